package initbin

import (
	"bytes"
	"debug/elf"
	"runtime"
	"testing"
)

func TestBinaryIsStaticELFForGOARCH(t *testing.T) {
	b, err := Binary()
	if runtime.GOARCH != "amd64" && runtime.GOARCH != "arm64" {
		if err == nil {
			t.Fatal("no error for an architecture without an agent")
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	f, err := elf.NewFile(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("not an ELF file: %v", err)
	}
	want := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}[runtime.GOARCH]
	if f.Machine != want {
		t.Fatalf("machine %v, want %v", f.Machine, want)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Fatal("the agent is dynamically linked; it must be static (CGO_ENABLED=0)")
		}
	}
}
