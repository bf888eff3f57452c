// The segmentation page: the image, the predicted classes over it, the legend.
import {startPage} from './page.js';
import {drawValues} from './images.js';

// matplotlib's tab10 (the colours of keras_segattn.visualize's plots).
const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f',
  '#bcbd22', '#17becf'];
const rgb = (hex) => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));

function argmaxMap(output) {
  const [, height, width, classes] = output.shape;
  const labels = new Uint8Array(height * width);
  for (let p = 0; p < height * width; p++) {
    let best = 0;
    for (let c = 1; c < classes; c++) if (output.data[p * classes + c] > output.data[p * classes + best]) best = c;
    labels[p] = best;
  }
  return {labels, height, width, classes};
}

function render(entry, model, input, result) {
  const output = Object.values(result.outputs)[0];
  const {labels, height, width, classes} = argmaxMap(output);
  drawValues(document.getElementById('image'), input.values, input.height, input.width, input.channels);
  const overlay = document.getElementById('overlay');
  drawValues(overlay, input.values, input.height, input.width, input.channels);
  const mask = new ImageData(width, height);
  for (let p = 0; p < height * width; p++) {
    const [r, g, b] = rgb(PALETTE[labels[p] % PALETTE.length]);
    mask.data.set([r, g, b, labels[p] === 0 ? 0 : 160], 4 * p);  // background: the image shows through
  }
  const small = new OffscreenCanvas(width, height);
  small.getContext('2d').putImageData(mask, 0, 0);
  const context = overlay.getContext('2d');
  context.imageSmoothingEnabled = false;
  context.drawImage(small, 0, 0, overlay.width, overlay.height);

  const names = model.manifest.model.class_names ?? entry.class_names ?? [];
  const counts = new Array(classes).fill(0);
  labels.forEach((l) => counts[l]++);
  const legend = document.getElementById('legend');
  legend.replaceChildren(...counts.map((count, c) => {
    const item = document.createElement('li');
    item.innerHTML = `<span class="swatch" style="background:${PALETTE[c % PALETTE.length]}"></span>`;
    item.append(`${names[c] ?? `class ${c}`}: ${(100 * count / labels.length).toFixed(1)}% of pixels`);
    return item;
  }));
}

startPage({page: 'index.html', render});
