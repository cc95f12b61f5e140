// Package lambdazip builds Ore's Lambda deployment zip reproducibly: the same
// source gives the same bytes, so the zip's hash (Terraform's
// source_code_hash) changes only when the code does, and an apply without
// changes deploys nothing. The bootstrap is built with -trimpath and
// -buildvcs=false (no paths or VCS state in the binary), and the zip holds
// that one file with a fixed time and mode, whatever the file system says.
package lambdazip

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// ModTime is the modification time of every file in the zip.
var ModTime = time.Date(2000, time.January, 1, 0, 0, 0, 0, time.UTC)

// Options of Build.
type Options struct {
	// ModuleDir is Ore's module (services/ore).
	ModuleDir string
	// Arch is the GOARCH of the function: arm64 or amd64.
	Arch string
	// Version is recorded as Ore's writer version (-X main.version).
	Version string
	// Out is the zip to write.
	Out string
	// Go is the go command; empty means "go".
	Go string
}

// Build compiles Ore's bootstrap for provided.al2023 on o.Arch, alone with
// GOWORK=off as CI checks the module, and writes it as o.Out.
func Build(ctx context.Context, o Options) error {
	if o.Arch != "arm64" && o.Arch != "amd64" {
		return fmt.Errorf("lambda architecture %q: want arm64 or amd64", o.Arch)
	}
	goCmd := o.Go
	if goCmd == "" {
		goCmd = "go"
	}
	tmp, err := os.MkdirTemp("", "lambdazip-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, "bootstrap")
	cmd := exec.CommandContext(ctx, goCmd, "build", "-trimpath", "-buildvcs=false", "-tags", "lambda.norpc",
		"-ldflags", "-s -w -X main.version="+o.Version, "-o", bin, "./cmd/ore")
	cmd.Dir = o.ModuleDir
	cmd.Env = append(os.Environ(), "GOWORK=off", "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+o.Arch)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build Ore's bootstrap for linux/%s: %w\n%s", o.Arch, err, out)
	}
	content, err := os.ReadFile(bin)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := Write(&buf, File{Name: "bootstrap", Mode: 0o755, Content: content}); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(o.Out), 0o755); err != nil {
		return err
	}
	return os.WriteFile(o.Out, buf.Bytes(), 0o644)
}

// File is one file of a zip.
type File struct {
	Name    string
	Mode    os.FileMode
	Content []byte
}

// Write writes files, in the order given, as a zip to w: deflated, with
// ModTime and each file's Mode, and nothing else from the environment.
func Write(w io.Writer, files ...File) error {
	zw := zip.NewWriter(w)
	for _, f := range files {
		h := &zip.FileHeader{Name: f.Name, Method: zip.Deflate, Modified: ModTime}
		h.SetMode(f.Mode)
		fw, err := zw.CreateHeader(h)
		if err != nil {
			return fmt.Errorf("zip %s: %w", f.Name, err)
		}
		if _, err := fw.Write(f.Content); err != nil {
			return fmt.Errorf("zip %s: %w", f.Name, err)
		}
	}
	return zw.Close()
}
