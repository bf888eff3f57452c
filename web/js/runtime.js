// Runs an exported keras_segattn artifact in the browser: TFLite through LiteRT.js,
// ONNX through ONNX Runtime Web. Inputs and outputs follow the artifact's manifest
// (PATH.json, written beside it by keras_segattn.export after its parity gate).
import * as litert from '@litertjs/core';
import * as ort from 'onnxruntime-web';

const MODULES = new URL('../node_modules/', import.meta.url);

// One thread in both runtimes: the page is served without cross-origin isolation,
// and equal threads keep the latency table a fair comparison.
ort.env.wasm.wasmPaths = new URL('onnxruntime-web/dist/', MODULES).href;
ort.env.wasm.numThreads = 1;

let liteRtReady = null;
function loadLiteRtOnce() {
  liteRtReady ??= litert.loadLiteRt(new URL('@litertjs/core/wasm/', MODULES).href);
  return liteRtReady;
}

export const RUNTIMES = {
  litert: 'LiteRT.js (WebAssembly, XNNPACK)',
  onnx: 'ONNX Runtime Web (WebAssembly)',
};

export async function fetchJson(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`cannot load ${url}: HTTP ${response.status}`);
  return response.json();
}

async function fetchBytes(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`cannot load ${url}: HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

// Raw values -> the input tensor's type, as keras_segattn.export.tflite does it in Python:
// value / scale + zero_point, rounded and clipped for integer inputs.
function toInputType(values, spec) {
  const dtype = spec.dtype;
  if (dtype === 'float32') return Float32Array.from(values);
  const q = spec.quantization ?? {scale: 0, zero_point: 0};
  const [Type, lo, hi] = {uint8: [Uint8Array, 0, 255], int8: [Int8Array, -128, 127]}[dtype] ?? [];
  if (!Type) throw new Error(`input dtype ${dtype} is not supported by this page`);
  const out = new Type(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = q.scale ? values[i] / q.scale + q.zero_point : values[i];
    out[i] = Math.min(hi, Math.max(lo, Math.round(v)));
  }
  return out;
}

export class ExportedModel {
  // artifact: {file, manifest, runtime, quantize, size_bytes}; base: the folder URL.
  static async load(base, artifact, {accelerator = 'wasm'} = {}) {
    const self = new ExportedModel();
    self.artifact = artifact;
    self.manifest = await fetchJson(new URL(artifact.manifest, base));
    if (!self.manifest.parity?.passed) throw new Error(`${artifact.file}: its manifest records no passed parity gate`);
    const [name, spec] = Object.entries(self.manifest.inputs)[0];
    self.inputName = name;
    self.inputSpec = {dtype: 'float32', ...spec};
    self.inputShape = spec.shape;
    if (self.inputShape.some((d) => d < 1)) {
      throw new Error(`${artifact.file} has a dynamic input shape [${self.inputShape}]; export it with batch_size=1`);
    }
    const bytes = await fetchBytes(new URL(artifact.file, base));
    self.runtime = artifact.runtime;
    if (self.runtime === 'litert') {
      await loadLiteRtOnce();
      self.model = await litert.loadAndCompile(bytes, {accelerator});
      self.runtimeName = accelerator === 'webgpu' ? 'LiteRT.js (WebGPU)' : RUNTIMES.litert;
    } else {
      self.session = await ort.InferenceSession.create(bytes, {executionProviders: ['wasm']});
      self.runtimeName = RUNTIMES.onnx;
    }
    return self;
  }

  // values: raw inputs (e.g. RGB in [0, 255]) in the manifest's layout (1, H, W, C).
  // Returns {outputs: {name: {data: Float32Array, shape}}, ms}.
  async run(values) {
    const expected = this.inputShape.reduce((a, b) => a * b, 1);
    if (values.length !== expected) {
      throw new Error(`input must have ${expected} values (shape [${this.inputShape}]), received ${values.length}`);
    }
    const data = toInputType(values, this.inputSpec);
    const outputs = {};
    const start = performance.now();
    if (this.runtime === 'litert') {
      const input = new litert.Tensor(data, this.inputShape);
      const results = await this.model.run({[this.inputName]: input});
      const ms = performance.now() - start;
      input.delete();
      for (const [name, tensor] of Object.entries(results)) {
        outputs[name] = {data: Float32Array.from(tensor.toTypedArray()), shape: Array.from(tensor.type.layout.dimensions)};
        tensor.delete();
      }
      return {outputs, ms};
    }
    const type = {float32: 'float32', uint8: 'uint8', int8: 'int8'}[this.inputSpec.dtype];
    const results = await this.session.run({[this.inputName]: new ort.Tensor(type, data, this.inputShape)});
    const ms = performance.now() - start;
    for (const [name, tensor] of Object.entries(results)) {
      outputs[name] = {data: Float32Array.from(tensor.data), shape: Array.from(tensor.dims)};
    }
    return {outputs, ms};
  }
}

// --- hooks for the browser tests and the latency script (keras_segattn's tests/test_web.py)
function fromBase64(text) {
  const bytes = Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  return new Float32Array(bytes.buffer);
}

function toBase64(floats) {
  const bytes = new Uint8Array(floats.buffer, floats.byteOffset, floats.byteLength);
  let text = '';
  for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(text);
}

const loaded = new Map();
window.ksaTest = {
  // Runs `artifact` on each base64 float32 input; returns base64 float32 outputs per name and the latencies.
  async run(base, artifact, inputs, repeats = 1) {
    const key = `${base}|${artifact.file}`;
    if (!loaded.has(key)) loaded.set(key, await ExportedModel.load(new URL(base, location.href), artifact));
    const model = loaded.get(key);
    const results = [];
    const ms = [];
    for (const input of inputs) {
      const values = fromBase64(input);
      let result;
      for (let r = 0; r < repeats; r++) {
        result = await model.run(values);
        ms.push(result.ms);
      }
      const out = {};
      for (const [name, o] of Object.entries(result.outputs)) out[name] = {data: toBase64(o.data), shape: o.shape};
      results.push(out);
    }
    return {results, ms, runtime: model.runtimeName};
  },
};
