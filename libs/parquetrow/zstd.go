package parquetrow

import (
	"fmt"
	"sync"

	"github.com/klauspost/compress/zstd"
	"github.com/parquet-go/parquet-go/format"
)

// zstdWindow is the zstd window of the pages Ore writes. A page is at most
// about DefaultPageBufferSize before compression, so a larger window finds
// nothing more; parquet-go's own codec uses the 8 MiB default, which costs
// 16 MiB of history per pooled encoder.
const zstdWindow = 1 << 20

// zstdCodec is the ZSTD parquet codec with encoders sized for pages.
type zstdCodec struct {
	encoders sync.Pool
	decoders sync.Pool
}

func newZstdCodec() *zstdCodec {
	c := &zstdCodec{}
	c.encoders.New = func() any {
		e, err := zstd.NewWriter(nil,
			zstd.WithEncoderConcurrency(1),
			zstd.WithEncoderLevel(zstd.SpeedDefault),
			zstd.WithWindowSize(zstdWindow),
			zstd.WithZeroFrames(true),
			zstd.WithEncoderCRC(false),
		)
		if err != nil {
			panic(fmt.Sprintf("parquetrow: zstd encoder options: %v", err)) // constant options
		}
		return e
	}
	c.decoders.New = func() any {
		d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1))
		if err != nil {
			panic(fmt.Sprintf("parquetrow: zstd decoder options: %v", err)) // constant options
		}
		return d
	}
	return c
}

func (c *zstdCodec) String() string { return "ZSTD" }

func (c *zstdCodec) CompressionCodec() format.CompressionCodec { return format.Zstd }

func (c *zstdCodec) Encode(dst, src []byte) ([]byte, error) {
	e := c.encoders.Get().(*zstd.Encoder)
	defer c.encoders.Put(e)
	return e.EncodeAll(src, dst[:0]), nil
}

func (c *zstdCodec) Decode(dst, src []byte) ([]byte, error) {
	d := c.decoders.Get().(*zstd.Decoder)
	defer c.decoders.Put(d)
	return d.DecodeAll(src, dst[:0])
}
