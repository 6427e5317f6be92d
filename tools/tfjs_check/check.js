#!/usr/bin/env node
// Parity check helper: runs a TF.js graph model (model.json + weight shards read from disk)
// with the original TF.js runtime and writes the requested outputs as raw little-endian float32.
//
// usage: node check.js --model DIR/model.json --input-shape 1,512,512,3 --output tower_0/detections
//                      [--backend wasm|cpu] --outdir OUT IN1.f32 [IN2.f32 ...]
// Each INk.f32 holds the input tensor as raw float32 (NHWC, exactly --input-shape).
// Writes OUT/<basename of INk>.out.f32 and OUT/summary.json (backend, shapes, ms per run).
'use strict';
const fs = require('fs');
const path = require('path');
const tf = require('@tensorflow/tfjs');

function parseArgs(argv) {
  const a = { backend: 'wasm', output: 'tower_0/detections', inputs: [] };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    if (k === '--model') a.model = argv[++i];
    else if (k === '--backend') a.backend = argv[++i];
    else if (k === '--output') a.output = argv[++i];
    else if (k === '--input-shape') a.shape = argv[++i].split(',').map(Number);
    else if (k === '--outdir') a.outdir = argv[++i];
    else if (k === '-h' || k === '--help') { console.log(fs.readFileSync(__filename, 'utf8').split('\n').slice(1, 8).join('\n')); process.exit(0); }
    else a.inputs.push(k);
  }
  if (!a.model || !a.shape || !a.outdir || !a.inputs.length) throw new Error('missing arguments, see --help');
  return a;
}

// Minimal IOHandler: plain @tensorflow/tfjs has no file:// loader (tf.io.fileSystem is tfjs-node only).
function fileHandler(modelJsonPath) {
  return {
    load: async () => {
      const mj = JSON.parse(fs.readFileSync(modelJsonPath, 'utf8'));
      const dir = path.dirname(modelJsonPath);
      const specs = [];
      const bufs = [];
      for (const group of mj.weightsManifest) {
        specs.push(...group.weights);
        for (const p of group.paths) bufs.push(fs.readFileSync(path.join(dir, p)));
      }
      const all = Buffer.concat(bufs);
      const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength);
      return {
        modelTopology: mj.modelTopology, format: mj.format, generatedBy: mj.generatedBy,
        convertedBy: mj.convertedBy, signature: mj.signature, userDefinedMetadata: mj.userDefinedMetadata,
        weightSpecs: specs, weightData,
      };
    },
  };
}

async function main() {
  const a = parseArgs(process.argv.slice(2));
  if (a.backend === 'wasm') {
    require('@tensorflow/tfjs-backend-wasm');
  }
  await tf.setBackend(a.backend);
  await tf.ready();
  const model = await tf.loadGraphModel(fileHandler(a.model));
  fs.mkdirSync(a.outdir, { recursive: true });
  const n = a.shape.reduce((x, y) => x * y, 1);
  const summary = { tfjs: tf.version.tfjs, backend: tf.getBackend(), output: a.output, runs: [] };
  for (const inp of a.inputs) {
    const buf = fs.readFileSync(inp);
    if (buf.byteLength !== 4 * n) throw new Error(`${inp}: ${buf.byteLength} bytes, expected ${4 * n}`);
    const data = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
    const x = tf.tensor(data, a.shape, 'float32');
    const t0 = Date.now();
    const y = model.execute(x, [a.output]);
    const out = await y.data();
    const ms = Date.now() - t0;
    const name = path.basename(inp).replace(/\.f32$/, '') + '.out.f32';
    fs.writeFileSync(path.join(a.outdir, name), Buffer.from(out.buffer, out.byteOffset, out.byteLength));
    summary.runs.push({ input: path.basename(inp), output: name, shape: y.shape, ms });
    tf.dispose([x, y]);
  }
  fs.writeFileSync(path.join(a.outdir, 'summary.json'), JSON.stringify(summary, null, 2));
  console.log(JSON.stringify(summary));
}

main().catch((e) => { console.error(e); process.exit(1); });
