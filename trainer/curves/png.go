package curves

import (
	"io"

	"gonum.org/v1/plot/vg/vgimg"

	"github.com/shardsmith/shardsmith/internal/durable"
)

// writePNG writes img to path atomically, so a reader never sees half a
// picture.
func writePNG(path string, img *vgimg.Canvas) error {
	return durable.Write(path, 0o644, func(w io.Writer) error {
		_, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(w)
		return err
	})
}
