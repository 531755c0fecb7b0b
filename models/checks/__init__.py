"""Checks of the exported models, run by the tests (make test) or by hand: half precision,
the feature memo, TensorFlow's padding rule, a tiny TF.js graph for CI, CPU against CUDA."""
