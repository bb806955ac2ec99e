package project

import (
	"bufio"
	"errors"
	"io"
)

// forEachLine calls fn with each line of r (without its "\n"), skipping
// lines longer than max bytes instead of failing on them as a
// bufio.Scanner does ("token too long"), so one damaged line cannot make
// a whole file unreadable. The slice passed to fn is valid only during the
// call. Errors: r's read errors.
func forEachLine(r io.Reader, max int, fn func([]byte)) error {
	br := bufio.NewReaderSize(r, max)
	skipping := false
	for {
		line, err := br.ReadSlice('\n')
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			skipping = true // the rest of this line is skipped too
			continue
		case err != nil && !errors.Is(err, io.EOF):
			return err
		}
		if !skipping && len(line) > 0 {
			if line[len(line)-1] == '\n' {
				line = line[:len(line)-1]
			}
			fn(line)
		}
		skipping = false
		if err != nil {
			return nil // EOF
		}
	}
}
