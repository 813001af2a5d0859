"""Raw gait_edge_align fwd and bwd at the CPU target point, alternated ITERS times, with a warm copy of the op's
compulsory fwd+bwd bytes; prints one JSON line. Run from a checkout's root, one process per build and capability:
    ATEN_CPU_CAPABILITY=default PYTHONPATH=$PWD python raw_ab.py ITERS THREADS"""
import sys, time, json, torch
import gaitedge.ops
from gaitedge import _extension
from benchmarks.harness.inputs import probabilities, silhouettes
from benchmarks.bench_gait_align import ratios
torch.set_num_threads(int(sys.argv[2]) if len(sys.argv) > 2 else 2)
N=1024
sil = silhouettes(N, 128, 128, torch.uint8, torch.device("cpu"))
prob = probabilities(sil, torch.float32)
ratio = ratios(N, torch.device("cpu"))
out, boxes = torch.ops.gaitedge.gait_edge_align(prob, sil, ratio, 3, 64, 44, 1.0, "opengait")
g = torch.randn_like(out)
px = N*128*128; outb = N*64*44*4
nbytes = (px*5 + N*4 + outb) + (outb + px + N*16 + px*4)  # fwd + bwd compulsory bytes, as bench_gait_edge_align
src = torch.ones(nbytes // 8)  # [nbytes / 8] floats: a copy reads and writes nbytes in all
dst = torch.zeros_like(src)
fw=[];bw=[];cp=[]
for _ in range(int(sys.argv[1])):
    t = time.perf_counter()
    torch.ops.gaitedge.gait_edge_align(prob, sil, ratio, 3, 64, 44, 1.0, "opengait")
    fw.append(time.perf_counter() - t)
    t = time.perf_counter()
    torch.ops.gaitedge._gait_edge_align_backward(g, sil, boxes, 3, "opengait")
    bw.append(time.perf_counter() - t)
    t=time.perf_counter(); dst.copy_(src); cp.append(time.perf_counter()-t)
med=lambda v: sorted(v)[len(v)//2]
print(json.dumps({"routes": _extension.cpu_vector_routes(), "fwd_med": med(fw) * 1e3, "fwd_min": min(fw) * 1e3,
                  "bwd_med": med(bw) * 1e3, "bwd_min": min(bw) * 1e3, "copy_med": med(cp) * 1e3,
                  "copy_min": min(cp) * 1e3, "copy_bytes": nbytes,
                  "fwdbwd_over_copy_med": (med(fw) + med(bw)) / med(cp)}))
