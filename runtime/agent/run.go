package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"
	"time"
)

// DefaultMaxOutput is the per-stream output cap Run applies when
// RunOptions.MaxOutput is 0: 10 MiB.
const DefaultMaxOutput = 10 << 20

const (
	// exitDrain is how long Run keeps reading output after the main
	// process exited: a background child may hold the pipes open forever.
	exitDrain = 100 * time.Millisecond
	// killWait bounds how long Run waits for the exit frame after sending
	// SIGKILL on timeout (the agent reports it once the tree is gone).
	killWait = 5 * time.Second
	// readChunk is the read size of the output drainers.
	readChunk = 64 << 10
)

// errRunTimeout is the context cause Run uses for RunOptions.Timeout.
var errRunTimeout = errors.New("run timeout")

// RunOptions tunes Run.
type RunOptions struct {
	// Stdin is copied to the command's standard input, which is closed at
	// its end; nil means empty stdin (immediate EOF). A Stdin that blocks
	// keeps one goroutine of Run's alive until its Read returns.
	Stdin io.Reader
	// MaxOutput is the cap in bytes for each of stdout and stderr: 0 means
	// DefaultMaxOutput (10 MiB), < 0 means no cap. Output beyond the cap is
	// still read (so the command never blocks on a full pipe) and dropped,
	// and RunResult.Truncated is set.
	MaxOutput int64
	// Timeout bounds the command's run time; <= 0 means none (ctx still
	// applies).
	Timeout time.Duration
	// OnStdout and OnStderr, when set, get each chunk of output as it is
	// read (before the cap applies), from one goroutine per stream; the
	// slice is only valid during the call.
	OnStdout, OnStderr func([]byte)
}

// RunResult is the outcome of Run.
type RunResult struct {
	// ExitCode is the command's exit code (0..255; 128+n when killed by
	// signal n; 127 not found; 126 not executable), or -1 when it timed
	// out or Run failed.
	ExitCode int
	// Stdout and Stderr are the captured output, each at most the cap.
	Stdout, Stderr []byte
	// Duration is the time from the call of Run until the command's exit
	// was reported (or it was killed).
	Duration time.Duration
	// TimedOut is set when the timeout or ctx ended the command; its whole
	// tree was killed with SIGKILL.
	TimedOut bool
	// Truncated is set when either stream exceeded the cap.
	Truncated bool
}

// Run runs req through the agent listening at socketPath and waits for it:
// it makes the command's pipes itself, dials, starts, feeds opts.Stdin,
// drains stdout and stderr concurrently (each capped at opts.MaxOutput), and
// returns once the main process has exited plus a drain of at most 100 ms —
// even if a background child still holds the pipes open.
//
// When opts.Timeout passes or ctx is done first, the command's whole tree is
// killed with SIGKILL and the result has ExitCode -1, TimedOut true and the
// output read so far; the error is nil for opts.Timeout or ctx's deadline,
// and wraps context.Canceled when ctx was cancelled.
//
// Errors (the result then has ExitCode -1 and whatever output was read):
// ErrInvalidRequest for a bad req, Dial's errors, Start's errors (ErrStart
// when the agent could not start it), ErrClosed when the connection ended
// before the exit, ErrProtocol for a misbehaving agent, pipe errors.
func Run(ctx context.Context, socketPath string, req ExecRequest, opts RunOptions) (RunResult, error) {
	start := time.Now()
	res := RunResult{ExitCode: -1}
	if err := req.Validate(); err != nil {
		return res, err
	}
	maxOut := opts.MaxOutput
	if maxOut == 0 {
		maxOut = DefaultMaxOutput
	}
	runCtx := ctx
	if opts.Timeout > 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeoutCause(ctx, opts.Timeout, errRunTimeout)
		defer cancel()
	}
	name := req.Argv[0]

	conn, err := Dial(runCtx, socketPath)
	if err != nil {
		return res, fmt.Errorf("run %q: %w", name, err)
	}
	defer conn.Close()

	var files []*os.File
	closeAll := func() {
		for _, f := range files {
			f.Close()
		}
	}
	inR, inW, err := os.Pipe()
	if err != nil {
		return res, fmt.Errorf("run %q: pipe: %w", name, err)
	}
	files = append(files, inR, inW)
	outR, outW, err := os.Pipe()
	if err != nil {
		closeAll()
		return res, fmt.Errorf("run %q: pipe: %w", name, err)
	}
	files = append(files, outR, outW)
	errR, errW, err := os.Pipe()
	if err != nil {
		closeAll()
		return res, fmt.Errorf("run %q: pipe: %w", name, err)
	}
	files = append(files, errR, errW)
	defer closeAll()

	// Drain both streams from the start, so the command never blocks.
	var wg sync.WaitGroup
	var stdout, stderr capture
	wg.Add(2)
	stdout.onData, stderr.onData = opts.OnStdout, opts.OnStderr
	go func() { defer wg.Done(); stdout.drain(outR, maxOut) }()
	go func() { defer wg.Done(); stderr.drain(errR, maxOut) }()
	finish := func() {
		// The main process is gone (or never started): read what is
		// already there and at most exitDrain more.
		d := time.Now().Add(exitDrain)
		outR.SetReadDeadline(d)
		errR.SetReadDeadline(d)
		wg.Wait()
		res.Stdout, res.Stderr = stdout.data, stderr.data
		res.Truncated = stdout.truncated || stderr.truncated
	}

	type startResult struct {
		pid int
		err error
	}
	startCh := make(chan startResult, 1)
	go func() {
		pid, err := conn.Start(req, inR, outW, errW)
		startCh <- startResult{pid, err}
	}()
	var sr startResult
	select {
	case sr = <-startCh:
	case <-runCtx.Done():
		// Dropping the connection makes the agent kill the tree, if it
		// started one.
		conn.Close()
		<-startCh
		res.Duration = time.Since(start)
		res.TimedOut = true
		outW.Close()
		errW.Close()
		finish()
		return res, ctxResult(ctx, name)
	}
	// The command (and the agent) hold their own copies now.
	inR.Close()
	outW.Close()
	errW.Close()
	if sr.err != nil {
		res.Duration = time.Since(start)
		finish()
		return res, fmt.Errorf("run: %w", sr.err)
	}

	var closeIn sync.Once
	go func() {
		if opts.Stdin != nil {
			io.Copy(inW, opts.Stdin)
		}
		closeIn.Do(func() { inW.Close() })
	}()
	defer closeIn.Do(func() { inW.Close() })

	type waitResult struct {
		code int
		err  error
	}
	waitCh := make(chan waitResult, 1)
	go func() {
		code, err := conn.Wait()
		waitCh <- waitResult{code, err}
	}()
	var wr waitResult
	select {
	case wr = <-waitCh:
	case <-runCtx.Done():
		select {
		case wr = <-waitCh: // exited just now: not a timeout
		default:
			res.TimedOut = true
		}
	}
	if res.TimedOut {
		// The agent reports the exit once every process of the tree is
		// gone; do not wait for a misbehaving agent forever.
		if err := conn.Signal(syscall.SIGKILL); err == nil {
			t := time.NewTimer(killWait)
			select {
			case <-waitCh:
			case <-t.C:
			}
			t.Stop()
		}
		res.Duration = time.Since(start)
		conn.Close()
		finish()
		return res, ctxResult(ctx, name)
	}
	res.Duration = time.Since(start)
	finish()
	if wr.err != nil {
		return res, fmt.Errorf("run %q: %w", name, wr.err)
	}
	res.ExitCode = wr.code
	return res, nil
}

// ctxResult is Run's error after a timeout: nil for a deadline (ours or
// ctx's), ctx's cancellation otherwise.
func ctxResult(ctx context.Context, name string) error {
	if err := ctx.Err(); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("run %q: %w", name, err)
	}
	return nil
}

// capture collects one output stream up to a cap, reading and dropping the
// rest.
type capture struct {
	data      []byte
	truncated bool
	onData    func([]byte)
}

func (c *capture) drain(r *os.File, max int64) {
	buf := make([]byte, readChunk)
	for {
		n, err := r.Read(buf)
		if n > 0 && c.onData != nil {
			c.onData(buf[:n])
		}
		if n > 0 {
			keep := n
			if max >= 0 && int64(len(c.data))+int64(n) > max {
				keep = int(max - int64(len(c.data)))
				c.truncated = true
			}
			c.data = append(c.data, buf[:keep]...)
		}
		if err != nil {
			return
		}
	}
}
