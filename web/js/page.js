// What both pages share: the catalog, the model and image pickers, status and errors.
import {ExportedModel, fetchJson} from './runtime.js';
import {decodeFile, decodeUrl, toModelInput} from './images.js';

const $ = (id) => document.getElementById(id);
const MODELS = new URL('models/', location.href);

function describe(artifact) {
  const kind = artifact.format === 'tflite' ? `TFLite ${artifact.quantize ?? 'float32'}` : 'ONNX float32';
  const runtime = artifact.runtime === 'litert' ? 'LiteRT.js' : 'ONNX Runtime Web';
  return `${kind} · ${runtime}`;
}

function setState(state, message = '') {
  document.body.dataset.state = state;
  $('status').textContent = message;
  $('status').className = state === 'error' ? 'error' : '';
}

// page: 'index.html' or 'stn.html'; render(entry, model, input, result) draws the outputs.
export async function startPage({page, render}) {
  let catalog;
  try {
    catalog = await fetchJson(new URL('catalog.json', MODELS));
  } catch {
    catalog = {models: []};
  }
  const entries = catalog.models.filter((m) => m.page === page);
  if (!entries.length) {
    setState('error', 'No model is exported for this page. Run: keras-segattn web --model saved_models/deconvnet_tiny.keras '
      + '(or make web), then reload.');
    return;
  }
  const choices = entries.flatMap((entry) => entry.artifacts.map((artifact) => ({entry, artifact})));
  const select = $('artifact');
  choices.forEach(({entry, artifact}, i) => select.add(new Option(`${entry.name} · ${describe(artifact)}`, i)));

  const models = new Map();
  let image = null;
  let imageLabel = '';

  async function run() {
    if (!image) return;
    const {entry, artifact} = choices[Number(select.value)];
    setState('running', 'running...');
    try {
      if (!models.has(artifact.file)) models.set(artifact.file, await ExportedModel.load(MODELS, artifact));
      const model = models.get(artifact.file);
      // A dynamic size (an ONNX file exported without one) takes the image's own.
      const size = model.inputShape.map((d, i) => (d > 0 ? d : [1, image.height, image.width][i]));
      const input = toModelInput(image, size);
      const result = await model.run(input.values, size);
      const [, height, width, channels] = size;
      render(entry, model, {...input, height, width, channels}, result);
      $('runtime').textContent = model.runtimeName;
      $('model-file').textContent = `${artifact.file} (${(artifact.size_bytes / 1e6).toFixed(2)} MB, `
        + `input ${model.inputSpec.dtype} [${size}])`;
      $('latency').textContent = `${result.ms.toFixed(1)} ms`;
      $('input-note').textContent = input.resized
        ? `${imageLabel}: resized from ${input.from.join('x')} to ${input.to.join('x')}, the size the model takes (its manifest).`
        : `${imageLabel}: ${input.to.join('x')}, the model's size.`;
      setState('done', 'done');
    } catch (error) {
      setState('error', String(error.message ?? error));
    }
  }

  const samples = $('samples');
  for (const entry of entries) {
    for (const url of entry.samples) {
      const button = document.createElement('button');
      button.className = 'sample';
      button.title = url;
      const thumb = new Image();
      thumb.src = new URL(url, MODELS).href;
      button.append(thumb);
      button.addEventListener('click', async () => {
        image = await decodeUrl(new URL(url, MODELS));
        imageLabel = url.split('/').pop();
        await run();
      });
      samples.append(button);
    }
  }
  $('upload').addEventListener('change', async (event) => {
    const file = event.target.files[0];
    try {
      image = await decodeFile(file);
      imageLabel = file.name;
    } catch (error) {
      image = null;
      setState('error', String(error.message ?? error));
      return;
    }
    await run();
  });
  select.addEventListener('change', run);
  setState('ready', 'pick a sample or upload an image');
  samples.querySelector('button')?.click();
}
