// Package idx reads and writes the IDX file format, the container used by
// MNIST and several datasets derived from it.
//
// # Format
//
// An IDX file is a header followed by one flat array of big-endian numbers:
//
//	offset  size     content
//	0       2        zero bytes 00 00
//	2       1        element type: 0x08 u8, 0x09 i8, 0x0B i16, 0x0C i32, 0x0D f32, 0x0E f64
//	3       1        rank R (number of dimensions, at least 1)
//	4       4*R      dimensions, each a big-endian uint32
//	4+4*R   ...      product(dims) elements, row-major, big-endian
//
// The first dimension counts items (images, labels); the remaining dimensions
// give the shape of one item, so MNIST training images are 60000×28×28 u8 and
// the labels 60000 u8. Files are usually distributed gzip-compressed; the
// [Reader] recognises gzip by its magic bytes (1f 8b), never by file name,
// and decompresses with github.com/klauspost/compress/gzip.
//
// # Why streaming
//
// The header states the shape, so a decoder could allocate everything up
// front and read the file in one go. This package deliberately does not: the
// declared size of a damaged or hostile file is not to be trusted, and the
// consumers of a dataset (shard writers, augmentation) work item by item or
// batch by batch anyway. A [Reader] therefore holds only a small fixed buffer,
// fills caller-owned slices with whole items, and checks the end of the
// stream (trailing bytes, gzip checksum) when the last item has been read.
// Memory use is independent of the file size, and the decompression of one
// batch overlaps naturally with the processing of the previous one.
//
// # Errors
//
// Malformed input is reported as an [*Error] that names the file, the byte
// offset in the decompressed stream and what was expected there. Every
// Read method returns io.EOF only after the end of the stream has been
// verified, so a caller that reads until io.EOF has checked the whole file.
package idx
