// The spatial transformer page: the digit, where the transformer samples it, what it passes on, the class.
import {startPage} from './page.js';
import {drawValues} from './images.js';

function softmax(logits) {
  const top = Math.max(...logits);
  const e = logits.map((v) => Math.exp(v - top));
  const sum = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / sum);
}

// The sampling grid holds (x, y) in [-1, 1] with align_corners=True: pixel = (g + 1) / 2 * (size - 1).
function drawGrid(canvas, grid, height, width) {
  const [, rows, cols] = grid.shape;
  const context = canvas.getContext('2d');
  const sx = canvas.width / width;
  const sy = canvas.height / height;
  const point = (i, j) => {
    const k = 2 * (i * cols + j);
    return [((grid.data[k] + 1) / 2 * (width - 1) + 0.5) * sx, ((grid.data[k + 1] + 1) / 2 * (height - 1) + 0.5) * sy];
  };
  context.strokeStyle = 'rgba(255, 80, 40, 0.9)';
  context.fillStyle = 'rgba(255, 200, 40, 0.9)';
  context.lineWidth = 2;
  context.beginPath();
  const border = [[0, 0], [0, cols - 1], [rows - 1, cols - 1], [rows - 1, 0]];
  border.forEach(([i, j], n) => (n ? context.lineTo(...point(i, j)) : context.moveTo(...point(i, j))));
  context.closePath();
  context.stroke();
  const step = Math.max(1, Math.floor(rows / 8));
  for (let i = 0; i < rows; i += step) {
    for (let j = 0; j < cols; j += step) {
      const [x, y] = point(i, j);
      context.fillRect(x - 1.5, y - 1.5, 3, 3);
    }
  }
}

function render(entry, model, input, result) {
  const {logits, transformed, theta, grid} = result.outputs;
  if (!logits || !transformed || !grid) {
    throw new Error('this model has no logits/transformed/grid outputs; export it with keras-segattn web');
  }
  const image = document.getElementById('image');
  drawValues(image, input.values, input.height, input.width, input.channels);
  drawGrid(image, grid, input.height, input.width);
  const [, h, w, c] = transformed.shape;
  // The transformer's output is the classifier's input in [0, 1].
  drawValues(document.getElementById('transformed'), transformed.data.map((v) => 255 * v), h, w, c);
  const probabilities = softmax(Array.from(logits.data));
  const names = model.manifest.model.class_names ?? entry.class_names ?? [];
  const best = probabilities.indexOf(Math.max(...probabilities));
  document.getElementById('class').textContent =
    `${names[best] ?? best} (probability ${probabilities[best].toFixed(3)})`;
  document.getElementById('theta').textContent = theta ? `[${Array.from(theta.data, (v) => v.toFixed(3)).join(', ')}]` : '';
}

startPage({page: 'stn.html', render});
