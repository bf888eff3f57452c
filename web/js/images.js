// Images in, model inputs out: decode a file, check it, resize it to the manifest's size.

// A file the browser cannot decode as an image gets a message that says so.
export async function decodeFile(file) {
  if (!file) throw new Error('no file chosen');
  if (file.type && !file.type.startsWith('image/')) {
    throw new Error(`"${file.name}" is not an image (${file.type}); choose a PNG, JPEG, GIF, BMP or WebP file`);
  }
  try {
    return await createImageBitmap(file);
  } catch {
    throw new Error(`"${file.name}" could not be decoded as an image; choose a PNG, JPEG, GIF, BMP or WebP file`);
  }
}

export async function decodeUrl(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`cannot load ${url}: HTTP ${response.status}`);
  return createImageBitmap(await response.blob());
}

// The model's input from an image: raw values in [0, 255], shape (1, H, W, C) flattened.
// C = 3: the RGB channels; C = 1: the first channel of a grey image, else the luminance.
// Another size is resized (bilinear, the browser's) and `resized` says from what.
export function toModelInput(image, [, height, width, channels]) {
  if (!image.width || !image.height) throw new Error('the image is empty (0 pixels)');
  const canvas = new OffscreenCanvas(width, height);
  const context = canvas.getContext('2d', {willReadFrequently: true});
  context.imageSmoothingEnabled = true;
  context.imageSmoothingQuality = 'high';
  context.drawImage(image, 0, 0, width, height);
  const rgba = context.getImageData(0, 0, width, height).data;
  const values = new Float32Array(height * width * channels);
  for (let p = 0; p < height * width; p++) {
    const [r, g, b] = [rgba[4 * p], rgba[4 * p + 1], rgba[4 * p + 2]];
    if (channels === 3) values.set([r, g, b], 3 * p);
    else values[p] = r === g && g === b ? r : Math.round(0.299 * r + 0.587 * g + 0.114 * b);
  }
  const resized = image.width !== width || image.height !== height;
  return {values, resized, from: [image.width, image.height], to: [width, height]};
}

// Draws raw values (H, W, C) in [0, 255] on `canvas`, scaled up with square pixels.
export function drawValues(canvas, values, height, width, channels) {
  const image = new ImageData(width, height);
  for (let p = 0; p < height * width; p++) {
    for (let c = 0; c < 3; c++) image.data[4 * p + c] = values[channels === 3 ? 3 * p + c : p];
    image.data[4 * p + 3] = 255;
  }
  const small = new OffscreenCanvas(width, height);
  small.getContext('2d').putImageData(image, 0, 0);
  const context = canvas.getContext('2d');
  context.imageSmoothingEnabled = false;
  context.drawImage(small, 0, 0, canvas.width, canvas.height);
}
