"""Raw gait_edge_align fwd and bwd at the CPU target point on 1 thread, timed in thread CPU time
(time.thread_time: excludes time the thread is descheduled by other load); prints one JSON line."""
import json
import sys
import time

import torch

import gaitedge.ops  # noqa: F401  (registers the ops)
from benchmarks.bench_gait_align import ratios
from benchmarks.harness.inputs import probabilities, silhouettes
from gaitedge import _extension

torch.set_num_threads(1)
N = 1024
sil = silhouettes(N, 128, 128, torch.uint8, torch.device("cpu"))  # [N, 1, 128, 128]
prob = probabilities(sil, torch.float32)
ratio = ratios(N, torch.device("cpu"))
out, boxes = torch.ops.gaitedge.gait_edge_align(prob, sil, ratio, 3, 64, 44, 1.0, "opengait")
g = torch.randn_like(out)
fw, bw = [], []
for _ in range(int(sys.argv[1])):
    t = time.thread_time()
    torch.ops.gaitedge.gait_edge_align(prob, sil, ratio, 3, 64, 44, 1.0, "opengait")
    fw.append(time.thread_time() - t)
    t = time.thread_time()
    torch.ops.gaitedge._gait_edge_align_backward(g, sil, boxes, 3, "opengait")
    bw.append(time.thread_time() - t)


def med(v):
    return sorted(v)[len(v) // 2] * 1e3


print(json.dumps({"routes": _extension.cpu_vector_routes(), "fwd_cpu_med": med(fw), "fwd_cpu_min": min(fw) * 1e3,
                  "bwd_cpu_med": med(bw), "bwd_cpu_min": min(bw) * 1e3}))
