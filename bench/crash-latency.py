#!/usr/bin/env python3
"""How fast requests in flight learn that their upstream died: sends a 60 s 'slow' call and then a 'crash' call to the
in-repo test upstream through the shim, and times both error answers from the moment the crash call is sent.
Bounded: 10 rounds, loopback only. Usage: bench/crash-latency.py [BIN_DIR] (default: the Debug build)."""
import json, os, statistics, subprocess, sys, tempfile, time

repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
bins = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else f"{repo}/src/McpBroker.Cli/bin/Debug/net10.0"
upstream = f"{repo}/tests/McpBroker.TestUpstream/bin/Debug/net10.0/mcp-test-upstream"

def send(p, msg):
    p.stdin.write((json.dumps(msg) + "\n").encode()); p.stdin.flush()

def call(i, name, args):
    return {"jsonrpc": "2.0", "id": i, "method": "tools/call", "params": {"name": name, "arguments": args}}

with tempfile.TemporaryDirectory(prefix="mb-crash-") as root:
    config = f"{root}/broker.yaml"
    with open(config, "w") as f:
        f.write(f"schema_version: 1\nruntime: {{ root: {root}/r }}\nprofiles: {{ default: {{ compact_tools_enabled: false }} }}\n"
                f"upstreams:\n  t: {{ command: {upstream}, restart: {{ max_attempts: 100 }} }}\n")
    shim = subprocess.Popen([f"{bins}/mcp-broker-client", "--config", config], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            env={**os.environ, "MCP_BROKER_CLI": f"{bins}/mcp-broker"})
    send(shim, {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}}})
    shim.stdout.readline()
    send(shim, {"jsonrpc": "2.0", "method": "notifications/initialized"})
    in_flight, crashed = [], []
    try:
        for r in range(10):
            base = 100 * (r + 1)
            send(shim, call(base, "t.pid", {})); shim.stdout.readline()          # (re)start the upstream
            send(shim, call(base + 1, "t.slow", {"ms": 60000}))
            time.sleep(0.2)                                                        # let the slow call reach the server
            t0 = time.perf_counter(); send(shim, call(base + 2, "t.crash", {"code": 9}))
            seen = {}
            while len(seen) < 2:
                msg = json.loads(shim.stdout.readline())
                seen[msg["id"]] = (time.perf_counter() - t0) * 1000
                assert "upstream_crashed" in json.dumps(msg), msg
            in_flight.append(seen[base + 1]); crashed.append(seen[base + 2])
        print("rounds (in-flight ms):", " ".join(f"{v:.0f}" for v in in_flight))
        print(f"in-flight request answered after the crash: p50 {statistics.median(in_flight):.1f} ms, max {max(in_flight):.1f} ms")
        print(f"crashing request answered:                  p50 {statistics.median(crashed):.1f} ms, max {max(crashed):.1f} ms")
    finally:
        shim.stdin.close(); shim.wait(30)
        subprocess.run([f"{bins}/mcp-broker", "daemon", "stop", "--config", config], capture_output=True)
