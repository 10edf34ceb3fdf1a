<?php
// The PHP + ImageMagick resize server the benchmark compares against: Imagick reads the file,
// thumbnailImage scales it, getImageBlob encodes, the way such servers are usually written.
// With BENCH_PHP_JPEG_SIZE_HINT=1 it is written the way a careful PHP developer would: the JPEG
// decoder is first told the size wanted (jpeg:size, twice the output, so that libjpeg decodes at
// 1/2 or 1/4 scale, as sharp's shrink-on-load does). Served by `php -S HOST:PORT resize.php`
// (a router script) under PHP_CLI_SERVER_WORKERS; the same URL scheme as the image service.
$root = getenv('BENCH_IMAGE_ROOT');
$hint = getenv('BENCH_PHP_JPEG_SIZE_HINT') === '1';
$path = parse_url($_SERVER['REQUEST_URI'], PHP_URL_PATH);
$prefix = '/image/files/';
if ($root === false || !str_starts_with($path, $prefix)) {
    http_response_code(404);
    return;
}
$key = rawurldecode(substr($path, strlen($prefix)));
if ($key === '' || str_contains($key, '..') || str_contains($key, "\0")) {
    http_response_code(400);
    return;
}
$file = $root . '/' . $key;
if (!is_file($file)) {
    http_response_code(404);
    return;
}
$width = isset($_GET['w']) ? (int) $_GET['w'] : 0;
$quality = isset($_GET['q']) ? (int) $_GET['q'] : 80;
$format = $_GET['fm'] ?? 'jpeg';
if (!in_array($format, ['jpeg', 'webp', 'avif', 'png'], true) || $quality < 1 || $quality > 100 || $width < 0) {
    http_response_code(400);
    return;
}
try {
    $image = new Imagick();
    if ($hint && $width > 0) {
        $probe = new Imagick();
        $probe->pingImage($file);
        $height = (int) ceil($probe->getImageHeight() * $width / max(1, $probe->getImageWidth()));
        $image->setOption('jpeg:size', (2 * $width) . 'x' . (2 * $height));
    }
    $image->readImage($file);
    if ($width > 0 && $width < $image->getImageWidth()) {
        $image->thumbnailImage($width, 0);
    }
    $image->setImageFormat($format);
    $image->setImageCompressionQuality($quality);
    $blob = $image->getImageBlob();
    $image->clear();
    // php -S closes every connection after its answer; a length lets the client see the end.
    header('Content-Type: image/' . $format);
    header('Content-Length: ' . strlen($blob));
    echo $blob;
} catch (ImagickException $e) {
    http_response_code(500);
}
