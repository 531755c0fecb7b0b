// Runs a TF.js graph model in its own runtime (tfjs-core + tfjs-converter, CPU backend) and
// writes the value of one internal node for a batch of frames, so the PyTorch rebuild of the
// model can be checked against the original (models/pose/convert_movenet.py --parity).
//
// Usage: node tfjs_features.js MODEL_JSON FRAMES_U8 N H W NODE OUT_F32
//   FRAMES_U8: N frames, [H, W, 3] RGB u8 each; OUT_F32: the node's output per frame, NHWC
//   float32, concatenated.
const fs = require('fs');
const path = require('path');
const tf = require('@tensorflow/tfjs-core');
require('@tensorflow/tfjs-backend-cpu');
const tfconv = require('@tensorflow/tfjs-converter');

async function main() {
  const [modelJson, framesPath, n, h, w, node, outPath] = process.argv.slice(2);
  const spec = JSON.parse(fs.readFileSync(modelJson, 'utf8'));
  const weightSpecs = [];
  const buffers = [];
  for (const group of spec.weightsManifest) {
    weightSpecs.push(...group.weights);
    for (const p of group.paths) buffers.push(fs.readFileSync(path.join(path.dirname(modelJson), p)));
  }
  const all = Buffer.concat(buffers);
  const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength);
  const handler = {
    load: async () => ({
      modelTopology: spec.modelTopology, weightSpecs, weightData, format: spec.format,
      generatedBy: spec.generatedBy, convertedBy: spec.convertedBy, signature: spec.signature,
    }),
  };
  await tf.setBackend('cpu');
  const model = await tfconv.loadGraphModel(handler);
  const frames = fs.readFileSync(framesPath);
  const [N, H, W] = [Number(n), Number(h), Number(w)];
  const out = fs.openSync(outPath, 'w');
  for (let i = 0; i < N; i++) {
    const pixels = new Int32Array(H * W * 3);
    for (let j = 0; j < pixels.length; j++) pixels[j] = frames[i * H * W * 3 + j];
    const input = tf.tensor4d(pixels, [1, H, W, 3], 'int32');
    const value = model.execute({ input }, node);
    fs.writeSync(out, Buffer.from((await value.data()).buffer));
    tf.dispose([input, value]);
  }
  fs.closeSync(out);
}

main().catch((e) => { console.error(e); process.exit(1); });
