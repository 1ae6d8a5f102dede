#!/usr/bin/env python3
"""Spawn -> initialize answered -> exit of mcp-broker-client against a warm daemon (bounded: 30 runs, loopback only)."""
import os, statistics, subprocess, sys, tempfile, time

pub = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "/tmp/pub")
repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
with tempfile.TemporaryDirectory(prefix="mb-bench-") as root:
    config = os.path.join(root, "broker.yaml")
    with open(config, "w") as f:
        f.write(f"schema_version: 1\nruntime: {{ root: {root}/r }}\nupstreams:\n  memory: {{ command: {repo}/tests/upstreams/node_modules/.bin/mcp-server-memory }}\n")
    subprocess.run([f"{pub}/mcp-broker", "daemon", "--detach", "--config", config], check=True, capture_output=True)
    init = b'{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}\n'
    try:
        answered, exited = [], []
        for _ in range(30):
            start = time.perf_counter()
            shim = subprocess.Popen([f"{pub}/mcp-broker-client", "--config", config], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
            shim.stdin.write(init); shim.stdin.flush()
            line = shim.stdout.readline()
            answered.append((time.perf_counter() - start) * 1000)
            assert b'"id":1' in line, line
            shim.stdin.close(); shim.wait(10)
            exited.append((time.perf_counter() - start) * 1000)
        for name, times in (("spawn -> initialize answered", answered), ("spawn -> stdin closed -> exit", exited)):
            times.sort()
            print(f"{name}: p50 {statistics.median(times):.1f} ms, p90 {times[int(len(times) * 0.9)]:.1f} ms, min {times[0]:.1f} ms")
    finally:
        subprocess.run([f"{pub}/mcp-broker", "daemon", "stop", "--config", config], check=True, capture_output=True)
