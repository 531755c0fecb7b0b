"""What people do to each other in a window, from MultiPose's poses (keypoints.py).

`window_features(poses)` takes the poses of a window's frames, [B,T,6,56] (17 keypoints
(y, x, score), box, person score per person, as the graph returns them) and returns [B,D]
statistics that tell people walking past from people fighting:

- limb motion relative to the body: wrists, elbows, knees and ankles moving against the
  person's own torso, in person heights per frame (walkers swing limbs slowly and move the
  whole body; strikes move a limb fast while the body stays);
- the body's own speed, so that running and walking are seen as such;
- closeness: the nearest pair of people (centre distance in person heights), box overlap, a
  wrist inside another person's box;
- fast limbs near another person (the joint cue of a strike);
- raised wrists, a tilted torso, a box that changes its height (falls, bending, grappling);
- how many people, how sure the detector is of them.

People are followed from frame to frame by their nearest box centre; everything is vectorized
over the batch. An experiment (models/HISTORY.md): not part of the exported default.
"""

from typing import List

import torch

PERSON_FLOOR = 0.2
KEYPOINT_FLOOR = 0.2
SHOULDERS = [5, 6]
HIPS = [11, 12]
TORSO = [5, 6, 11, 12]
LIMBS = {"wrist": [9, 10], "elbow": [7, 8], "knee": [13, 14], "ankle": [15, 16]}
FEATURE_NAMES: List[str] = []


def _mean_where(x: torch.Tensor, m: torch.Tensor, dims: List[int]) -> torch.Tensor:
    return (x * m).sum(dims) / m.sum(dims).clamp_min(1.0)


def _max_where(x: torch.Tensor, m: torch.Tensor, dims: List[int]) -> torch.Tensor:
    return (x * m).amax(dims)


def _follow(nxt: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """The value of each person's match `nxt` [B,T-1,P] in the next frame: v [B,T,P] or [B,T,P,K]."""
    if v.dim() == 3:
        return v[:, 1:].gather(2, nxt)
    return v[:, 1:].gather(2, nxt.unsqueeze(3).expand(nxt.shape[0], nxt.shape[1], nxt.shape[2], v.shape[3]))


def window_features(poses: torch.Tensor) -> torch.Tensor:
    """poses [B,T,P,56] -> features [B,D] (names in `feature_names()`)."""
    b, t, p = poses.shape[0], poses.shape[1], poses.shape[2]
    kp = poses[..., :51].reshape(b, t, p, 17, 3)
    ky, kx, ks = kp[..., 0], kp[..., 1], kp[..., 2]
    box = poses[..., 51:55]
    valid = (poses[..., 55] > PERSON_FLOOR).to(poses.dtype)  # [B,T,P]
    height = (box[..., 2] - box[..., 0]).clamp_min(0.02)
    cy = (box[..., 0] + box[..., 2]) / 2
    cx = (box[..., 1] + box[..., 3]) / 2
    seen = (ks > KEYPOINT_FLOOR).to(poses.dtype)  # [B,T,P,17]

    # Torso centre: the seen shoulders and hips (the box centre where none is seen).
    torso_seen = seen[..., TORSO]
    n_torso = torso_seen.sum(-1)
    ty = torch.where(n_torso > 0, (ky[..., TORSO] * torso_seen).sum(-1) / n_torso.clamp_min(1.0), cy)
    tx = torch.where(n_torso > 0, (kx[..., TORSO] * torso_seen).sum(-1) / n_torso.clamp_min(1.0), cx)

    # Follow each person into the next frame: the nearest valid centre, within half a height.
    dy = cy[:, :-1].unsqueeze(3) - cy[:, 1:].unsqueeze(2)  # [B,T-1,P,P]
    dx = cx[:, :-1].unsqueeze(3) - cx[:, 1:].unsqueeze(2)
    dist = torch.sqrt(dy * dy + dx * dx) / height[:, :-1].unsqueeze(3) + 100.0 * (1.0 - valid[:, 1:]).unsqueeze(2)
    step, nxt = dist.min(3)  # [B,T-1,P]
    matched = valid[:, :-1] * (step < 0.5).to(poses.dtype)

    h0 = height[:, :-1]
    body_speed = step.clamp_max(0.5)  # person heights per sampled frame
    rel_y, rel_x = ky - ty.unsqueeze(3), kx - tx.unsqueeze(3)  # keypoints against the torso
    move_y = (_follow(nxt, rel_y) - rel_y[:, :-1]) / h0.unsqueeze(3)
    move_x = (_follow(nxt, rel_x) - rel_x[:, :-1]) / h0.unsqueeze(3)
    limb_seen = seen[:, :-1] * _follow(nxt, seen)
    limb_move = torch.sqrt(move_y * move_y + move_x * move_x) * limb_seen  # [B,T-1,P,17]

    # Pairs of people in the same frame.
    py, px = cy.unsqueeze(3) - cy.unsqueeze(2), cx.unsqueeze(3) - cx.unsqueeze(2)  # [B,T,P,P]
    mean_h = (height.unsqueeze(3) + height.unsqueeze(2)) / 2
    pair_valid = valid.unsqueeze(3) * valid.unsqueeze(2) * (1.0 - torch.eye(p, dtype=poses.dtype))
    pair_dist = torch.sqrt(py * py + px * px) / mean_h + 10.0 * (1.0 - pair_valid)
    nearest = pair_dist.min(3).values.clamp_max(5.0)  # [B,T,P]: each person's nearest other
    top, left = torch.maximum(box[..., 0].unsqueeze(3), box[..., 0].unsqueeze(2)), torch.maximum(box[..., 1].unsqueeze(3), box[..., 1].unsqueeze(2))
    bottom, right = torch.minimum(box[..., 2].unsqueeze(3), box[..., 2].unsqueeze(2)), torch.minimum(box[..., 3].unsqueeze(3), box[..., 3].unsqueeze(2))
    inter = (bottom - top).clamp_min(0.0) * (right - left).clamp_min(0.0)
    area = (box[..., 2] - box[..., 0]).clamp_min(0.0) * (box[..., 3] - box[..., 1]).clamp_min(0.0)
    iou = inter / (area.unsqueeze(3) + area.unsqueeze(2) - inter).clamp_min(1e-6) * pair_valid
    # A seen wrist of one person inside another's box.
    wy, wx = ky[..., [9, 10]], kx[..., [9, 10]]  # [B,T,P,2]
    inside = ((wy.unsqueeze(3) >= box[..., 0].unsqueeze(2).unsqueeze(4)) & (wy.unsqueeze(3) <= box[..., 2].unsqueeze(2).unsqueeze(4))
              & (wx.unsqueeze(3) >= box[..., 1].unsqueeze(2).unsqueeze(4)) & (wx.unsqueeze(3) <= box[..., 3].unsqueeze(2).unsqueeze(4))).to(poses.dtype)
    reach = (inside * seen[..., [9, 10]].unsqueeze(3)).amax(4) * pair_valid  # [B,T,P,P]
    reaching = reach.amax(3)  # [B,T,P]

    # Posture: raised wrists, torso tilt, the box's height changing.
    shoulder_y = _mean_where(ky[..., SHOULDERS], seen[..., SHOULDERS], [3])
    raised = ((wy < shoulder_y.unsqueeze(3)).to(poses.dtype) * seen[..., [9, 10]] * (seen[..., SHOULDERS].sum(3, keepdim=True) > 0).to(poses.dtype)).amax(3)
    hip_seen = seen[..., HIPS]
    sh_seen = seen[..., SHOULDERS]
    both = ((hip_seen.sum(3) > 0) & (sh_seen.sum(3) > 0)).to(poses.dtype)
    vy = _mean_where(ky[..., HIPS], hip_seen, [3]) - shoulder_y
    vx = _mean_where(kx[..., HIPS], hip_seen, [3]) - _mean_where(kx[..., SHOULDERS], sh_seen, [3])
    tilt = torch.atan2(vx.abs(), vy.abs() + 1e-6) * both  # 0 upright, pi/2 lying
    tilt_change = (_follow(nxt, tilt) - tilt[:, :-1]).abs() * matched * both[:, :-1] * _follow(nxt, both)
    height_change = ((_follow(nxt, height) - h0).abs() / h0) * matched

    mv = valid[:, :-1] * matched  # people followed into the next frame
    wrist = limb_move[..., LIMBS["wrist"]].amax(3)
    elbow = limb_move[..., LIMBS["elbow"]].amax(3)
    knee = limb_move[..., LIMBS["knee"]].amax(3)
    ankle = limb_move[..., LIMBS["ankle"]].amax(3)
    arms = torch.maximum(wrist, elbow)
    legs = torch.maximum(knee, ankle)
    near = (nearest[:, :-1] < 1.0).to(poses.dtype) * mv
    ratio = arms / (body_speed + 0.05)

    count = valid.sum(2)  # [B,T]
    some_pair = (pair_valid.sum((2, 3)) > 0).to(poses.dtype)  # [B,T]
    frame_nearest = torch.where(some_pair > 0, nearest.masked_fill(valid == 0, 5.0).amin(2), torch.full_like(count, 5.0))
    person_score = _mean_where(poses[..., 55], valid, [1, 2])
    keypoint_score = _mean_where(ks.mean(3), valid, [1, 2])
    dims = [1, 2]
    features = [
        count.mean(1), count.amax(1), person_score, keypoint_score,
        _mean_where(arms, mv, dims), _max_where(arms, mv, dims),
        _mean_where(legs, mv, dims), _max_where(legs, mv, dims),
        _mean_where(wrist, mv, dims), _max_where(wrist, mv, dims),
        _mean_where(body_speed, mv, dims), _max_where(body_speed, mv, dims),
        _max_where(ratio, mv, dims), _mean_where(ratio, mv, dims),
        frame_nearest.amin(1), frame_nearest.mean(1), (frame_nearest < 1.0).to(poses.dtype).mean(1),
        iou.amax((1, 2, 3)), _mean_where(iou.amax(3), valid, dims),
        reaching.amax((1, 2)), _mean_where(reaching, valid, dims),
        _max_where(arms, near, dims), _mean_where(arms, near, dims), _max_where(legs, near, dims),
        _mean_where(raised, valid, dims), _max_where(raised, valid, dims),
        _max_where(tilt, valid, dims), _mean_where(tilt, valid, dims), _max_where(tilt_change, mv, dims),
        _max_where(height_change, mv, dims), _mean_where(height_change, mv, dims),
        mv.sum(dims) / valid[:, :-1].sum(dims).clamp_min(1.0),
    ]
    return torch.stack(features, 1)


def feature_names() -> List[str]:
    return [
        "people_mean", "people_max", "person_score", "keypoint_score",
        "arms_mean", "arms_max", "legs_mean", "legs_max", "wrist_mean", "wrist_max",
        "body_speed_mean", "body_speed_max", "arms_over_body_max", "arms_over_body_mean",
        "nearest_pair_min", "nearest_pair_mean", "close_pair_share",
        "overlap_max", "overlap_mean", "reach_max", "reach_mean",
        "arms_near_max", "arms_near_mean", "legs_near_max",
        "raised_mean", "raised_max", "tilt_max", "tilt_mean", "tilt_change_max",
        "height_change_max", "height_change_mean", "followed_share",
    ]
