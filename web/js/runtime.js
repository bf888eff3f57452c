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
  if (dtype === 'int32') return Int32Array.from(values);
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
    self.inputs = Object.entries(self.manifest.inputs).map(([name, spec]) => ({name, dtype: 'float32', ...spec}));
    [self.inputName, self.inputSpec, self.inputShape] = [self.inputs[0].name, self.inputs[0], self.inputs[0].shape];
    // LiteRT.js cannot resize an input; ONNX Runtime Web can (a dynamic size is taken from the input).
    for (const input of self.inputs) {
      if (artifact.runtime === 'litert' && input.shape.some((d) => d < 1)) {
        throw new Error(`${artifact.file} has a dynamic input shape [${input.shape}]; export it with batch_size=1`);
      }
      if (input.shape[0] < 1) {
        throw new Error(`${artifact.file} has a dynamic batch [${input.shape}]; export it with batch_size=1`);
      }
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

  // values: the raw input (e.g. RGB in [0, 255]) in the manifest's layout (1, H, W, C), or for a model with
  // several inputs {name: {values, dtype, shape}} (dtype: 'float32' or 'int32', the manifest's where it has one;
  // shape: for dynamic dimensions). `shape`: the single input's shape where it is dynamic (ONNX).
  // Returns {outputs: {name: {data: Float32Array, shape}}, ms}.
  async run(values, shape = undefined) {
    const given = ArrayBuffer.isView(values) || Array.isArray(values) ? {[this.inputName]: {values, shape}} : values;
    const feeds = this.inputs.map((input) => {
      if (!given[input.name]) throw new Error(`input ${input.name} is missing (the model takes ${this.inputs.map((i) => i.name)})`);
      const {values: v, dtype, shape: givenShape} = given[input.name];
      // A dynamic dimension (-1, ONNX only) takes the size of the given input.
      const shape = input.shape.map((d, i) => (d > 0 ? d : givenShape?.[i] ?? -1));
      if (shape.some((d) => d < 1)) throw new Error(`input ${input.name} has a dynamic shape [${input.shape}]; give its shape`);
      const expected = shape.reduce((a, b) => a * b, 1);
      if (v.length !== expected) {
        throw new Error(`input ${input.name} must have ${expected} values (shape [${shape}]), received ${v.length}`);
      }
      const spec = {...input, dtype: this.manifest.inputs[input.name].dtype ?? dtype ?? 'float32'};
      return {name: input.name, shape, dtype: spec.dtype, data: toInputType(v, spec)};
    });
    const outputs = {};
    const start = performance.now();
    if (this.runtime === 'litert') {
      const tensors = Object.fromEntries(feeds.map((f) => [f.name, new litert.Tensor(f.data, f.shape)]));
      const results = await this.model.run(tensors);
      const ms = performance.now() - start;
      Object.values(tensors).forEach((t) => t.delete());
      for (const [name, tensor] of Object.entries(results)) {
        outputs[name] = {data: Float32Array.from(tensor.toTypedArray()), shape: Array.from(tensor.type.layout.dimensions)};
        tensor.delete();
      }
      return {outputs, ms};
    }
    const results = await this.session.run(
      Object.fromEntries(feeds.map((f) => [f.name, new ort.Tensor(f.dtype, f.data, f.shape)])));
    const ms = performance.now() - start;
    for (const [name, tensor] of Object.entries(results)) {
      outputs[name] = {data: Float32Array.from(tensor.data, Number), shape: Array.from(tensor.dims)};
    }
    return {outputs, ms};
  }
}

// --- hooks for the browser tests and the latency script (keras_segattn's tests/test_web.py)
function fromBase64(text, dtype = 'float32') {
  const bytes = Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  return dtype === 'int32' ? new Int32Array(bytes.buffer) : new Float32Array(bytes.buffer);
}

// One test input: a base64 float32 string (a single-input model) or {name: {data: base64, dtype}}.
function decodeInput(input) {
  if (typeof input === 'string') return fromBase64(input);
  return Object.fromEntries(Object.entries(input).map(
    ([name, {data, dtype, shape}]) => [name, {values: fromBase64(data, dtype), dtype, shape}]));
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
      const values = decodeInput(input);
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
