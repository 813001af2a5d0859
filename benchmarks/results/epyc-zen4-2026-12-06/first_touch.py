"""A fresh 64 MiB tensor filled, a warm one filled, and the raw gait_edge_align backward at the CPU target point,
interleaved ITERS times at 2 threads; prints one JSON line. Run from a checkout's root, once per allocator setting:
    PYTHONPATH=$PWD python first_touch.py ITERS"""
import sys, time, json, torch, os
import gaitedge.ops
from benchmarks.harness.inputs import probabilities, silhouettes
from benchmarks.bench_gait_align import ratios
torch.set_num_threads(2)
N=1024
sil = silhouettes(N, 128, 128, torch.uint8, torch.device("cpu"))
prob = probabilities(sil, torch.float32)
ratio = ratios(N, torch.device("cpu"))
out, boxes = torch.ops.gaitedge.gait_edge_align(prob, sil, ratio, 3, 64, 44, 1.0, "opengait")
g = torch.randn_like(out)
keep = torch.empty(N, 1, 128, 128); keep.fill_(0)
t = {"fresh_fill": [], "warm_fill": [], "bwd": []}
for _ in range(int(sys.argv[1])):
    a = time.perf_counter()
    x = torch.empty(N, 1, 128, 128)  # fresh pages every time, unless the allocator kept the last one
    x.fill_(1.0)
    t["fresh_fill"].append(time.perf_counter() - a)
    del x
    a=time.perf_counter(); keep.fill_(1.0); t["warm_fill"].append(time.perf_counter()-a)
    a = time.perf_counter()
    y = torch.ops.gaitedge._gait_edge_align_backward(g, sil, boxes, 3, "opengait")
    t["bwd"].append(time.perf_counter() - a)
    del y
med=lambda v: sorted(v)[len(v)//2]*1e3
print(json.dumps({"THP_MEM_ALLOC_ENABLE": os.environ.get("THP_MEM_ALLOC_ENABLE"),
                  **{k + "_med_ms": round(med(v), 2) for k, v in t.items()},
                  **{k + "_min_ms": round(min(v) * 1e3, 2) for k, v in t.items()}}))
