// SPDX-License-Identifier: LGPL-2.1 OR BSD-2-Clause
// A request loop in JavaScript that blocks in fs.readSync() on a slow FIFO through two named
// functions, for the JIT-frame test (tests/e2e/test_node.py): run with
//   node --perf-basic-prof --interpreted-frames-native-stack node_reader.js FIFO N OUT
// It reads N bytes, one per request, times each read with its own clock, and writes one JSON
// line to OUT: {"workload":"node_reader","pid":...,"reads":N,"read_ns":...}, then lingers
// 1.5 s (NODE_READER_LINGER_MS).
'use strict';
const fs = require('fs');

const [fifo, nArg, out] = process.argv.slice(2);
const n = Number(nArg);
const fd = fs.openSync(fifo, fs.constants.O_RDWR); // O_RDWR: open() does not wait for a writer
const buf = Buffer.alloc(1);
let readNs = 0n;

function slowUpstreamRead() {
  const t0 = process.hrtime.bigint();
  const got = fs.readSync(fd, buf, 0, 1, null);
  readNs += process.hrtime.bigint() - t0;
  return got;
}

function handleRequest(i) {
  return slowUpstreamRead() + i;
}

function serveRequests() {
  let sum = 0;
  for (let i = 0; i < n; i++) sum += handleRequest(i);
  return sum;
}

serveRequests();
fs.writeFileSync(out, JSON.stringify({
  workload: 'node_reader', pid: process.pid, reads: n, read_ns: Number(readNs),
}) + '\n');
// Live on a little, as a service does: JIT names come from this process's perf map, which
// only a live process's /proc/PID/root reaches, and the agent unwinds shortly after a block.
setTimeout(() => {}, Number(process.env.NODE_READER_LINGER_MS || 1500));
