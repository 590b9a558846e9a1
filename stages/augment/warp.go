package augment

import (
	"fmt"
	"math"
	"strings"
)

// affine maps an output pixel (x, y) to the source point
// (a·x + b·y + c, d·x + e·y + f), both in pixel indices.
type affine struct{ a, b, c, d, e, f float64 }

// warpStage is a run of consecutive affine ops, optionally followed by one
// elastic op, resampled in a single bilinear pass.
type warpStage struct {
	affine  []affineOp
	elastic *elasticOp
}

func (ws *warpStage) apply(a *Augmenter, s *scratch, key uint64, dst, cur []uint8) []uint8 {
	g := identity()
	for _, o := range ws.affine {
		o.compose(&g, s.rng(key, o.index))
	}
	w, h := a.width, a.height
	field := ws.elastic != nil && ws.elastic.draw(s, key, w, h)
	if !field && g.isIdentity() {
		return cur
	}
	m := g.pixel(w, h)
	var fdx, fdy []float32
	if field {
		fdx, fdy = s.dx, s.dy
	}
	c := a.channels
	if c == 1 {
		padInto(s.pad, cur, w, h) // cur may be dst: read it before writing
		warpPlane(dst, s.pad, w, h, m, fdx, fdy)
		return dst
	}
	// The same map for every channel, one plane at a time; channel k of cur
	// is read before channel k of dst is written.
	for k := range c {
		for i := range s.in {
			s.in[i] = cur[i*c+k]
		}
		padInto(s.pad, s.in, w, h)
		warpPlane(s.out, s.pad, w, h, m, fdx, fdy)
		for i, v := range s.out {
			dst[i*c+k] = v
		}
	}
	return dst
}

// warpPlane resamples one w×h plane from its zero-bordered copy pad through
// m and the optional elastic field.
func warpPlane(dst, pad []uint8, w, h int, m affine, fdx, fdy []float32) {
	switch {
	case fdx != nil:
		warpField(dst, pad, w, h, m, fdx, fdy)
	case m.fitsFixed(w, h):
		warpAffine(dst, pad, w, h, m)
	default:
		warpField(dst, pad, w, h, m, nil, nil)
	}
}

func (ws *warpStage) describe() []string {
	var out []string
	names := make([]string, len(ws.affine))
	for i, o := range ws.affine {
		names[i] = affineNames[o.kind]
	}
	for _, o := range ws.affine {
		line := o.String() + ": affine"
		if len(ws.affine) > 1 || ws.elastic != nil {
			line += " (composed with " + strings.Join(others(names, affineNames[o.kind]), ", ")
			if ws.elastic != nil {
				if len(ws.affine) > 1 {
					line += ", "
				}
				line += "elastic"
			}
			line += " into one resampling pass)"
		}
		if ws.elastic == nil {
			line += "; one bilinear warp of the uint8 image with 32.32 fixed-point coordinates and 8-bit weights"
		} else {
			line += "; bilinear warp through the elastic field (float64 coordinates per pixel)"
		}
		out = append(out, line)
	}
	if e := ws.elastic; e != nil {
		line := fmt.Sprintf("%s: uniform [-1,1] fields smoothed by a separable float32 Gaussian (radius %d, reflected borders), "+
			"scaled by alpha; own kernel, not imaging.Blur, which would quantise the field to 8 bits", e, e.radius)
		if len(ws.affine) > 0 {
			line += "; fused with the preceding affine ops into one bilinear pass"
		} else {
			line += "; one bilinear pass on the uint8 image"
		}
		out = append(out, line)
	}
	return out
}

// others returns names without the first occurrence of self.
func others(names []string, self string) []string {
	out := make([]string, 0, len(names))
	skipped := false
	for _, n := range names {
		if n == self && !skipped {
			skipped = true
			continue
		}
		out = append(out, n)
	}
	return out
}

// padInto copies the w×h image src into the interior of pad, a (w+2)×(h+2)
// buffer whose one-pixel border is zero and is never written.
func padInto(pad, src []uint8, w, h int) {
	pw := w + 2
	for y := 0; y < h; y++ {
		copy(pad[(y+1)*pw+1:(y+1)*pw+1+w], src[y*w:y*w+w])
	}
}

const (
	fracBits = 32                  // fixed-point fraction bits of source coordinates
	halfStep = 1 << (fracBits - 9) // half an 8-bit weight step, to round to the nearest 1/256
	fixLimit = 1 << 30             // coordinates must stay well inside int64 at 32.32
)

func fix(v float64) int64 { return int64(math.Round(v * (1 << fracBits))) }

// fitsFixed reports whether all source coordinates for a w×h output fit the
// 32.32 fixed-point path. The map is affine, so checking corners suffices.
func (m affine) fitsFixed(w, h int) bool {
	for _, v := range []float64{m.a, m.b, m.d, m.e} {
		if !(math.Abs(v) < fixLimit) {
			return false
		}
	}
	for _, p := range [4][2]float64{{0, 0}, {float64(w - 1), 0}, {0, float64(h - 1)}, {float64(w - 1), float64(h - 1)}} {
		sx := m.a*p[0] + m.b*p[1] + m.c
		sy := m.d*p[0] + m.e*p[1] + m.f
		if !(math.Abs(sx) < fixLimit && math.Abs(sy) < fixLimit) {
			return false
		}
	}
	return true
}

// warpAffine resamples the zero-bordered source pad into the w×h dst through
// m with bilinear interpolation. Source coordinates step along each row in
// 32.32 fixed point (row starts are computed afresh, so error cannot build
// up across rows), rounded to 1/256 pixel; taps are blended with 8-bit
// integer weights. At integer source coordinates the weights are exactly
// 0 and the source byte is copied unchanged.
func warpAffine(dst, pad []uint8, w, h int, m affine) {
	pw := w + 2
	ax, dx := fix(m.a), fix(m.d)
	limX, limY := uint(w+1), uint(h+1) // padded tap-0 index range
	for y := 0; y < h; y++ {
		fy := float64(y)
		// +1: pad has a one-pixel border.
		sx := fix(float64(m.b*fy)+m.c+1) + halfStep
		sy := fix(float64(m.e*fy)+m.f+1) + halfStep
		row := dst[y*w : y*w+w]
		for x := range row {
			ix, iy := int(sx>>fracBits), int(sy>>fracBits)
			if uint(ix) < limX && uint(iy) < limY {
				wx := int32(sx>>(fracBits-8)) & 0xff
				wy := int32(sy>>(fracBits-8)) & 0xff
				i := iy*pw + ix
				t := pad[i : i+pw+2 : i+pw+2]
				p00, p01 := int32(t[0]), int32(t[1])
				p10, p11 := int32(t[pw]), int32(t[pw+1])
				top := p00<<8 + (p01-p00)*wx
				bot := p10<<8 + (p11-p10)*wx
				row[x] = uint8((top<<8 + (bot-top)*wy + 1<<15) >> 16)
			} else {
				row[x] = 0
			}
			sx += ax
			sy += dx
		}
	}
}

// warpField is the general bilinear warp: output pixel (x, y) samples the
// source at m·(x+fdx, y+fdy), with coordinates in float64 per pixel. fdx and
// fdy may be nil for a plain affine map too large for warpAffine.
func warpField(dst, pad []uint8, w, h int, m affine, fdx, fdy []float32) {
	pw := w + 2
	limX, limY := float64((w+1)*256), float64((h+1)*256)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			i := y*w + x
			qx, qy := float64(x), float64(y)
			if fdx != nil {
				qx += float64(fdx[i])
				qy += float64(fdy[i])
			}
			// In 1/256 pixels, padded, rounded to nearest by the +0.5 and
			// the truncation below (both values are ≥ 0 when used).
			sx := (float64(m.a*qx)+float64(m.b*qy)+m.c+1)*256 + 0.5
			sy := (float64(m.d*qx)+float64(m.e*qy)+m.f+1)*256 + 0.5
			if !(sx >= 0 && sx < limX && sy >= 0 && sy < limY) {
				dst[i] = 0
				continue
			}
			X, Y := int(sx), int(sy)
			wx, wy := int32(X&0xff), int32(Y&0xff)
			j := (Y>>8)*pw + X>>8
			t := pad[j : j+pw+2 : j+pw+2]
			p00, p01 := int32(t[0]), int32(t[1])
			p10, p11 := int32(t[pw]), int32(t[pw+1])
			top := p00<<8 + (p01-p00)*wx
			bot := p10<<8 + (p11-p10)*wx
			dst[i] = uint8((top<<8 + (bot-top)*wy + 1<<15) >> 16)
		}
	}
}
