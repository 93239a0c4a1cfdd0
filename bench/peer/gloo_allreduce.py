#!/usr/bin/env python3
"""Peer of `npm run bench:exchange`: torch.distributed's gloo all_reduce of the same number of
values, in the same dtype, over the same number of processes on this machine (Debian's
python3-torch). Prints one JSON line: {"seconds": median, "p95": ..., "samples": [...]}.
Usage: gloo_allreduce.py PARAMS WORLD fp16|fp32 REPEAT
"""
import json
import os
import statistics
import sys
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def run(rank, world, params, dtype, repeat, port, out):
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    tensor = torch.ones(params, dtype=dtype)
    times = []
    for i in range(repeat + 1):
        dist.barrier()
        start = time.perf_counter()
        dist.all_reduce(tensor)
        elapsed = time.perf_counter() - start
        if i > 0:  # the first is warm-up (connections, buffers)
            times.append(elapsed)
    if rank == 0:
        out.put(times)
    dist.destroy_process_group()


def main():
    params, world, precision, repeat = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    dtype = torch.float16 if precision == "fp16" else torch.float32
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=run, args=(r, world, params, dtype, repeat, port, out)) for r in range(world)]
    for p in procs:
        p.start()
    times = out.get()
    for p in procs:
        p.join()
    times.sort()
    print(json.dumps({"seconds": statistics.median(times), "p95": times[min(len(times) - 1, int(0.95 * len(times)))], "samples": times}))


if __name__ == "__main__":
    main()
