package pocketdock

import (
	"context"
	"fmt"
	"iter"
	"sync"

	pdrt "github.com/pocketdock/pocketdock/runtime"
	"github.com/pocketdock/pocketdock/runtime/agent"
)

// StreamChunk is one piece of a streamed command's output, as it arrived.
type StreamChunk struct {
	// Stream is "stdout" or "stderr".
	Stream string
	// Data is the bytes read (a copy; the receiver may keep it).
	Data []byte
}

// Stream is a running streamed command (Container.Stream).
type Stream struct {
	ch   chan StreamChunk
	done chan struct{}
	stop chan struct{}
	once sync.Once
	res  ExecResult
	err  error
}

// Stream runs cmd like Run and delivers its output while it runs: range
// over Chunks for the chunks (in arrival order per stream), then call Result
// for the final ExecResult (which holds the whole output too, capped like
// Run's). Breaking out of Chunks early is fine: the rest of the output is
// still collected for Result.
func (c *Container) Stream(ctx context.Context, cmd string, opts ...RunOption) *Stream {
	s := &Stream{ch: make(chan StreamChunk, 16), done: make(chan struct{}), stop: make(chan struct{})}
	send := func(name string) func([]byte) {
		return func(b []byte) {
			chunk := StreamChunk{Stream: name, Data: append([]byte(nil), b...)}
			select {
			case s.ch <- chunk:
			case <-s.stop:
			}
		}
	}
	opts = append(opts, func(cfg *runConfig) { cfg.onStdout, cfg.onStderr = send("stdout"), send("stderr") })
	go func() {
		s.res, s.err = c.Run(ctx, cmd, opts...)
		close(s.ch)
		close(s.done)
	}()
	return s
}

// Chunks yields the output chunks until the command ended.
func (s *Stream) Chunks() iter.Seq[StreamChunk] {
	return func(yield func(StreamChunk) bool) {
		for ch := range s.ch {
			if !yield(ch) {
				s.once.Do(func() { close(s.stop) })
				return
			}
		}
	}
}

// Result waits for the command and returns its ExecResult and error, as Run
// would have.
func (s *Stream) Result() (ExecResult, error) {
	s.once.Do(func() { close(s.stop) })
	<-s.done
	return s.res, s.err
}

// request builds the agent request for argv with cfg's options applied.
func (c *Container) request(argv []string, cfg runConfig) (agent.ExecRequest, error) {
	p := c.rec.Process
	req := agent.ExecRequest{Argv: argv, Env: p.Env, Cwd: p.Cwd, UID: p.UID, GID: p.GID, Groups: p.Groups}
	if len(cfg.env) > 0 {
		req.Env = pdrt.MergeEnv(p.Env, cfg.env)
	}
	if cfg.workdir != "" {
		if cfg.workdir[0] != '/' {
			return req, fmt.Errorf("%w: workdir %q: want an absolute path", ErrInvalidArgument, cfg.workdir)
		}
		req.Cwd = cfg.workdir
	}
	if cfg.user != "" {
		uid, gid, groups, err := c.m.ResolveUser(c.rec, cfg.user)
		if err != nil {
			return req, err
		}
		req.UID, req.GID, req.Groups = uid, gid, groups
	}
	return req, req.Validate()
}

// shellArgv is Run's argv for cmd in cfg's language.
func shellArgv(cmd string, cfg runConfig) ([]string, error) {
	switch cfg.lang {
	case "", "sh", "shell", "bash":
		return []string{"/bin/sh", "-c", cmd}, nil
	case "python", "python3", "py":
		return []string{"python3", "-c", cmd}, nil
	}
	return nil, fmt.Errorf("%w: language %q: want \"sh\" or \"python\"", ErrInvalidArgument, cfg.lang)
}
