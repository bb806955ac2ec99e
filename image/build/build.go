// Package build is pocketdock's Dockerfile builder. It parses a Dockerfile
// with buildkit's parser (frontend/dockerfile/parser and instructions),
// checks every instruction before anything runs, and runs the stages in
// order: FROM takes a local image (else pulls it per the pull policy), an
// earlier stage, or scratch; RUN runs in a pocketdock container made by a
// Runner (host network by default, like `docker build --network host`);
// COPY and ADD take files from the context (honouring .dockerignore) or,
// with --from, from an earlier stage or an image; ADD also fetches http(s)
// URLs on the host (--checksum checked); ENV, ARG (with docker's automatic
// platform ARGs), USER, WORKDIR,
// SHELL, CMD, ENTRYPOINT, LABEL, EXPOSE, VOLUME, HEALTHCHECK and STOPSIGNAL
// change the config. Only the stages the last one needs are built.
//
// Each RUN, COPY or ADD (and a WORKDIR that has to create its folder)
// becomes one layer and one untagged step image carrying its cache key, the
// sha256 of the parent image, the config in force (all of it: ENV, USER,
// WORKDIR, SHELL, labels, …), the ARG values, the config-only steps since
// the last layer, the instruction, and for COPY/ADD the digest of the copied
// files (names, modes, owners, link targets, contents). A rebuild finds each
// step's image by its key and runs nothing. Config-only steps make no
// layer; a stage that ends with them gets one config-only image (cached the
// same way). The last stage's image gets the tags. Step images are the
// cache: image.Store.List leaves them out while they are untagged, and
// image.Store.PruneBuildCache removes them.
package build

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/moby/patternmatcher"
	imgspecv1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/pocketdock/pocketdock/image"
	"github.com/pocketdock/pocketdock/snapshot"
)

// Network modes of RUN steps.
const (
	// NetworkHost runs RUN steps in the host's network namespace (the default).
	NetworkHost = "host"
	// NetworkNone runs RUN steps with loopback only.
	NetworkNone = "none"
)

// DefaultShell runs shell-form RUN, CMD and ENTRYPOINT when no SHELL is set.
var DefaultShell = []string{"/bin/sh", "-c"}

// RunRequest is one RUN step for a Runner.
type RunRequest struct {
	// Image is the ID of the image to run on.
	Image string
	// Argv is the command (shell form already wrapped in the SHELL).
	Argv []string
	// Env is the step's environment, "K=V": the config's ENV over the ARG
	// values in scope. The runner adds what a container always gets (PATH
	// when missing, HOME, HOSTNAME).
	Env []string
	// User is the USER in force ("" = root), resolved in the image.
	User string
	// Workdir is the absolute working directory ("" = /).
	Workdir string
	// Network is NetworkHost or NetworkNone.
	Network string
	// Output receives the command's stdout and stderr as they arrive.
	Output io.Writer
}

// Container is a finished RUN step's container, stopped, whose filesystem
// diff the builder commits before it calls Remove.
type Container interface {
	// StorageID is the containers/storage container holding the diff.
	StorageID() string
	// MountPoints are container paths the runtime mounted (left out of the diff).
	MountPoints() []string
	// Remove deletes the container and everything of it; it must work
	// after a cancelled context too.
	Remove(ctx context.Context) error
}

// Runner runs RUN steps. Run makes a container from req.Image, runs
// req.Argv in it to the end, stops it and returns it with the command's exit
// code; the caller removes it. On an error Run removes what it made itself.
type Runner interface {
	Run(ctx context.Context, req RunRequest) (Container, int, error)
}

// RunError is a RUN step whose command failed.
type RunError struct {
	// File and Line locate the RUN instruction.
	File string
	Line int
	// Command is the instruction as written.
	Command string
	// ExitCode is the command's exit code (128+N when killed by signal N).
	ExitCode int
}

// Error names the file, line, instruction and exit code.
func (e *RunError) Error() string {
	return fmt.Sprintf("%s line %d: %s: the command exited with code %d", e.File, e.Line, e.Command, e.ExitCode)
}

// Options say what to build.
type Options struct {
	// Store is the image store: bases, the cache and the result.
	Store *image.Store
	// Runner runs RUN steps (required when the Dockerfile has RUN).
	Runner Runner
	// File names the Dockerfile in errors and progress ("Dockerfile").
	File string
	// Dockerfile is the Dockerfile's text.
	Dockerfile []byte
	// ContextDir is the build context folder (COPY and ADD sources,
	// .dockerignore); "" is allowed when nothing is copied from it.
	ContextDir string
	// Tags name the result ("app" → localhost/app:latest); none leaves it
	// untagged (its ID is returned; images lists it with no names, as
	// docker shows <none>).
	Tags []string
	// Network is NetworkHost ("" too) or NetworkNone, for RUN steps.
	Network string
	// BuildArgs set ARG values (over the Dockerfile's defaults).
	BuildArgs map[string]string
	// NoCache runs every step (the results still enter the cache).
	NoCache bool
	// Pull is the pull policy for FROM and COPY --from images ("" = missing).
	Pull image.PullPolicy
	// Progress receives the STEP lines and the RUN output (nil = discard).
	Progress io.Writer
}

// Build builds o.Dockerfile and returns the ID of the resulting image.
// Errors: *InstructionError (unknown, unsupported or malformed instruction,
// before anything runs) and other image.ErrInvalidArgument errors (a bad
// tag, network or pull policy, a COPY source that is not there);
// image.ErrImageNotFound (a FROM image); *RunError (a RUN that failed; its
// container is removed). A failed build leaves no container behind; the
// steps that succeeded stay in the cache.
func Build(ctx context.Context, o Options) (string, error) {
	if o.File == "" {
		o.File = "Dockerfile"
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	for _, t := range o.Tags {
		if err := image.ValidateTag(t); err != nil {
			return "", fmt.Errorf("build: tag: %w", err)
		}
	}
	switch o.Network {
	case "":
		o.Network = NetworkHost
	case NetworkHost, NetworkNone:
	default:
		return "", fmt.Errorf("build: %w: network %q: want %q or %q", image.ErrInvalidArgument, o.Network, NetworkHost, NetworkNone)
	}
	pull, err := image.ParsePullPolicy(string(o.Pull))
	if err != nil {
		return "", fmt.Errorf("build: %w", err)
	}
	o.Pull = pull
	d, err := parse(o.File, o.Dockerfile)
	if err != nil {
		return "", err
	}
	b := &builder{o: o, d: d, out: &lockedWriter{w: o.Progress}, lex: shell.NewLex(d.escape),
		total: d.count(), usedArgs: map[string]bool{}}
	if o.ContextDir != "" {
		fi, err := os.Stat(o.ContextDir)
		if err != nil || !fi.IsDir() {
			return "", fmt.Errorf("build: %w: context %q is not a folder", image.ErrInvalidArgument, o.ContextDir)
		}
		if b.ignore, err = readIgnore(o.ContextDir); err != nil {
			return "", fmt.Errorf("build: %w", err)
		}
	}
	if d.needsRunner() && o.Runner == nil {
		return "", fmt.Errorf("build: %w: the Dockerfile has RUN steps but no runner was given", image.ErrInvalidArgument)
	}
	o.Store.RemoveStaleBuildLayers()
	start := time.Now()
	id, err := b.run(ctx)
	if err != nil {
		return "", err
	}
	// An untagged result is listed by images (docker shows it as <none>);
	// a tagged one is listed by its tags, and when they move to a newer
	// build it joins the hidden, prunable step cache again.
	if len(o.Tags) == 0 {
		if err := o.Store.MarkBuildResult(id); err != nil {
			return "", fmt.Errorf("build: %w", err)
		}
	}
	if len(o.Tags) > 0 {
		fmt.Fprintf(b.out, "COMMIT %s\n", strings.Join(o.Tags, ", "))
		if err := o.Store.AddTags(id, o.Tags); err != nil {
			return "", fmt.Errorf("build: %w", err)
		}
	}
	var unused []string
	for k := range o.BuildArgs {
		if !b.usedArgs[k] {
			unused = append(unused, k)
		}
	}
	if len(unused) > 0 {
		sort.Strings(unused)
		fmt.Fprintf(b.out, "WARNING: build args not used by any ARG: %s\n", strings.Join(unused, ", "))
	}
	fmt.Fprintf(b.out, "--> %s (built in %s)\n", id, time.Since(start).Round(time.Millisecond))
	return id, nil
}

func (d *dockerfile) needsRunner() bool {
	for _, s := range d.stages {
		for _, st := range s.steps {
			if _, ok := st.cmd.(*instructions.RunCommand); ok {
				return true
			}
		}
	}
	return false
}

// lockedWriter serialises writes from the stdout and stderr goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

type builder struct {
	o        Options
	d        *dockerfile
	out      io.Writer
	lex      *shell.Lex
	ignore   *patternmatcher.PatternMatcher
	n, total int
	usedArgs map[string]bool
	// stageImage and stageConfig are each finished stage's image and config.
	stageImage  []string
	stageConfig []dockerspec.DockerOCIImageConfig
}

// state is a stage under way.
type state struct {
	image   string // current image ID ("" = scratch, nothing yet)
	cfg     dockerspec.DockerOCIImageConfig
	pending []imgspecv1.History // config-only steps since the last image
	args    map[string]string   // ARG values in scope
	cmdSet  bool                // CMD given in this stage
}

func (b *builder) stepLine(text string) {
	b.n++
	fmt.Fprintf(b.out, "STEP %d/%d: %s\n", b.n, b.total, text)
}

func (b *builder) run(ctx context.Context) (string, error) {
	meta := platformArgs()
	for _, a := range b.d.metaArgs {
		for _, kv := range a.Args {
			if v, ok := b.o.BuildArgs[kv.Key]; ok {
				meta[kv.Key] = v
				b.usedArgs[kv.Key] = true
			} else if kv.Value != nil {
				v, _, err := b.lex.ProcessWord(*kv.Value, shell.EnvsFromSlice(envOf(meta)))
				if err != nil {
					line := 0
					if loc := a.Location(); len(loc) > 0 {
						line = loc[0].Start.Line
					}
					return "", b.errAt(line, "ARG", err)
				}
				meta[kv.Key] = v
			}
		}
	}
	need := b.neededStages(meta)
	for i, s := range b.d.stages {
		if !need[i] {
			b.total -= 1 + len(s.steps)
		}
	}
	for _, s := range b.d.stages {
		if !need[s.index] {
			fmt.Fprintf(b.out, "--> skipping stage %s: the target does not use it\n", s.label())
			b.stageImage = append(b.stageImage, "")
			b.stageConfig = append(b.stageConfig, dockerspec.DockerOCIImageConfig{})
			continue
		}
		st, err := b.from(ctx, s, meta)
		if err != nil {
			return "", err
		}
		for _, sp := range s.steps {
			if err := ctx.Err(); err != nil {
				return "", err
			}
			b.stepLine(sp.original)
			if err := b.step(ctx, st, sp, meta); err != nil {
				return "", err
			}
		}
		if err := b.finishStage(ctx, st); err != nil {
			return "", fmt.Errorf("%s: stage %d: %w", b.o.File, s.index, err)
		}
		b.stageImage = append(b.stageImage, st.image)
		b.stageConfig = append(b.stageConfig, st.cfg)
	}
	return b.stageImage[len(b.stageImage)-1], nil
}

func envOf(m map[string]string) []string {
	var out []string
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

func (b *builder) errAt(line int, kw string, err error) error {
	return &InstructionError{File: b.o.File, Line: line, Instruction: kw, Reason: err.Error()}
}

// from starts stage s.
func (b *builder) from(ctx context.Context, s *stage, meta map[string]string) (*state, error) {
	b.stepLine(s.original)
	base, _, err := b.lex.ProcessWord(s.base, shell.EnvsFromSlice(envOf(meta)))
	if err != nil || base == "" {
		if err == nil {
			err = fmt.Errorf("the base %q expands to nothing", s.base)
		}
		return nil, &InstructionError{File: b.o.File, Line: s.line, Instruction: "FROM", Reason: err.Error()}
	}
	st := &state{args: map[string]string{}}
	if idx, ok := b.d.stageIndex(base); ok && idx < s.index {
		st.image, st.cfg = b.stageImage[idx], cloneConfig(b.stageConfig[idx])
		fmt.Fprintf(b.out, "--> stage %s: %s\n", base, short(st.image))
		return st, nil
	}
	if strings.EqualFold(base, "scratch") {
		fmt.Fprintf(b.out, "--> scratch\n")
		return st, nil
	}
	img, cfg, err := b.resolveImage(ctx, base)
	if err != nil {
		return nil, fmt.Errorf("%s line %d: FROM %s: %w", b.o.File, s.line, base, err)
	}
	st.image, st.cfg = img, cfg
	fmt.Fprintf(b.out, "--> %s\n", short(img))
	return st, nil
}

// resolveImage finds (or pulls) ref and reads its config.
func (b *builder) resolveImage(ctx context.Context, ref string) (string, dockerspec.DockerOCIImageConfig, error) {
	img, err := b.o.Store.Resolve(ctx, ref, b.o.Pull, b.out)
	if err != nil {
		return "", dockerspec.DockerOCIImageConfig{}, err
	}
	raw, err := b.o.Store.ConfigJSON(img.ID)
	if err != nil {
		return "", dockerspec.DockerOCIImageConfig{}, err
	}
	var full dockerspec.DockerOCIImage
	if raw != nil {
		if err := json.Unmarshal(raw, &full); err != nil {
			return "", dockerspec.DockerOCIImageConfig{}, fmt.Errorf("parse config of image %s: %w", img.ID, err)
		}
	}
	return img.ID, full.Config, nil
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

func cloneConfig(c dockerspec.DockerOCIImageConfig) dockerspec.DockerOCIImageConfig {
	var out dockerspec.DockerOCIImageConfig
	b, _ := json.Marshal(c)
	_ = json.Unmarshal(b, &out)
	return out
}

// expander expands words with the stage's ARG values and ENV (ENV wins).
func (b *builder) expander(st *state) instructions.SingleWordExpander {
	env := shell.EnvsFromSlice(b.runEnv(st))
	return func(word string) (string, error) {
		v, _, err := b.lex.ProcessWord(word, env)
		return v, err
	}
}

// runEnv is the environment of a RUN: the ARG values with the config's ENV over them.
func (b *builder) runEnv(st *state) []string {
	out := mergeEnv(envOf(st.args), st.cfg.Env)
	return out
}

// mergeEnv returns base with over's entries replacing same-named ones.
func mergeEnv(base, over []string) []string {
	out := slices.Clone(base)
	for _, kv := range over {
		k, _, _ := strings.Cut(kv, "=")
		replaced := false
		for i, o := range out {
			if ok, _, _ := strings.Cut(o, "="); ok == k {
				out[i], replaced = kv, true
				break
			}
		}
		if !replaced {
			out = append(out, kv)
		}
	}
	return out
}

// configStep records a config-only step.
func (st *state) configStep(text string) {
	st.pending = append(st.pending, imgspecv1.History{CreatedBy: text, Comment: "pocketdock build", EmptyLayer: true})
}

func (b *builder) step(ctx context.Context, st *state, sp step, meta map[string]string) error {
	bad := func(err error) error {
		return &InstructionError{File: b.o.File, Line: sp.line, Instruction: sp.keyword, Reason: err.Error()}
	}
	if e, ok := sp.cmd.(instructions.SupportsSingleWordExpansion); ok {
		if _, isRun := sp.cmd.(*instructions.RunCommand); !isRun {
			if err := e.Expand(b.expander(st)); err != nil {
				return bad(err)
			}
		}
	}
	switch c := sp.cmd.(type) {
	case *instructions.EnvCommand:
		for _, kv := range c.Env {
			st.cfg.Env = mergeEnv(st.cfg.Env, []string{kv.Key + "=" + kv.Value})
		}
		st.configStep(sp.original)
	case *instructions.ArgCommand:
		for _, kv := range c.Args {
			if v, ok := b.o.BuildArgs[kv.Key]; ok {
				st.args[kv.Key] = v
				b.usedArgs[kv.Key] = true
			} else if kv.Value != nil {
				st.args[kv.Key] = *kv.Value
			} else if v, ok := meta[kv.Key]; ok {
				st.args[kv.Key] = v
			}
		}
	case *instructions.LabelCommand:
		if st.cfg.Labels == nil {
			st.cfg.Labels = map[string]string{}
		}
		for _, kv := range c.Labels {
			st.cfg.Labels[kv.Key] = kv.Value
		}
		st.configStep(sp.original)
	case *instructions.UserCommand:
		st.cfg.User = c.User
		st.configStep(sp.original)
	case *instructions.ShellCommand:
		st.cfg.Shell = slices.Clone(c.Shell)
		st.configStep(sp.original)
	case *instructions.CmdCommand:
		st.cfg.Cmd = b.cmdline(st, c.ShellDependantCmdLine)
		st.cmdSet = true
		st.configStep(sp.original)
	case *instructions.EntrypointCommand:
		st.cfg.Entrypoint = b.cmdline(st, c.ShellDependantCmdLine)
		if !st.cmdSet {
			st.cfg.Cmd = nil
		}
		st.configStep(sp.original)
	case *instructions.ExposeCommand:
		if st.cfg.ExposedPorts == nil {
			st.cfg.ExposedPorts = map[string]struct{}{}
		}
		exp := b.expander(st)
		for _, p := range c.Ports {
			p, err := exp(p)
			if err != nil {
				return bad(err)
			}
			ports, err := parseExpose(p)
			if err != nil {
				return bad(err)
			}
			for _, q := range ports {
				st.cfg.ExposedPorts[q] = struct{}{}
			}
		}
		st.configStep(sp.original)
	case *instructions.VolumeCommand:
		if st.cfg.Volumes == nil {
			st.cfg.Volumes = map[string]struct{}{}
		}
		for _, v := range c.Volumes {
			if v == "" {
				return bad(fmt.Errorf("empty volume path"))
			}
			st.cfg.Volumes[v] = struct{}{}
		}
		st.configStep(sp.original)
	case *instructions.StopSignalCommand:
		if err := checkStopSignal(c.Signal); err != nil {
			return bad(err)
		}
		st.cfg.StopSignal = c.Signal
		st.configStep(sp.original)
	case *instructions.HealthCheckCommand:
		st.cfg.Healthcheck = c.Health
		st.configStep(sp.original)
	case *instructions.WorkdirCommand:
		wd := c.Path
		if !path.IsAbs(wd) {
			cur := st.cfg.WorkingDir
			if cur == "" {
				cur = "/"
			}
			wd = path.Join(cur, wd)
		}
		st.cfg.WorkingDir = path.Clean(wd)
		return b.workdir(ctx, st, sp)
	case *instructions.RunCommand:
		return b.runStep(ctx, st, sp, c)
	case *instructions.CopyCommand:
		return b.copyStep(ctx, st, sp, c.SourcesAndDest, c.From, c.Chown, c.Chmod, false)
	case *instructions.AddCommand:
		if remote, err := b.remoteAdd(ctx, st, sp, c); remote || err != nil {
			return err
		}
		return b.copyStep(ctx, st, sp, c.SourcesAndDest, "", c.Chown, c.Chmod, true)
	default:
		return bad(fmt.Errorf("not supported"))
	}
	return nil
}

// cmdline turns a CMD/ENTRYPOINT/RUN command line into argv: the shell
// form goes through the SHELL (default /bin/sh -c).
func (b *builder) cmdline(st *state, c instructions.ShellDependantCmdLine) []string {
	if !c.PrependShell {
		return slices.Clone(c.CmdLine)
	}
	sh := st.cfg.Shell
	if len(sh) == 0 {
		sh = DefaultShell
	}
	return append(slices.Clone(sh), strings.Join(c.CmdLine, " "))
}

// parseExpose turns an EXPOSE argument ("80", "53/udp", "8000-8002/tcp")
// into "port/proto" keys.
func parseExpose(p string) ([]string, error) {
	ports, proto, _ := strings.Cut(strings.ToLower(p), "/")
	if proto == "" {
		proto = "tcp"
	}
	if proto != "tcp" && proto != "udp" && proto != "sctp" {
		return nil, fmt.Errorf("port %q: protocol %q (want tcp, udp or sctp)", p, proto)
	}
	lo, hi, isRange := strings.Cut(ports, "-")
	a, err1 := strconv.Atoi(lo)
	z := a
	var err2 error
	if isRange {
		z, err2 = strconv.Atoi(hi)
	}
	if err1 != nil || err2 != nil || a < 1 || z > 65535 || z < a {
		return nil, fmt.Errorf("port %q: want a port 1-65535 or a range, with an optional /tcp, /udp or /sctp", p)
	}
	var out []string
	for i := a; i <= z; i++ {
		out = append(out, strconv.Itoa(i)+"/"+proto)
	}
	return out, nil
}

// historyText is the created_by lines of the pending config-only steps.
func (st *state) historyText() []string {
	var out []string
	for _, h := range st.pending {
		out = append(out, h.CreatedBy)
	}
	return out
}

// cached looks key up (unless NoCache) and moves the stage onto the hit.
func (b *builder) cached(st *state, key string) (bool, error) {
	if b.o.NoCache {
		return false, nil
	}
	img, err := b.o.Store.FindBuildCache(key)
	if err != nil || img == nil {
		return false, err
	}
	st.image, st.pending = img.ID, nil
	fmt.Fprintf(b.out, "--> cached %s\n", short(img.ID))
	return true, nil
}

// commit makes the step image: st's image plus layer (nil = config only),
// with the config in force and the pending history plus text.
func (b *builder) commit(ctx context.Context, st *state, layer *image.NewLayer, text, key string) error {
	cfg, err := json.Marshal(st.cfg)
	if err != nil {
		return err
	}
	hist := slices.Clone(st.pending)
	if text != "" {
		hist = append(hist, imgspecv1.History{CreatedBy: text, Comment: "pocketdock build", EmptyLayer: layer == nil})
	}
	img, err := b.o.Store.CommitBuild(ctx, image.BuildCommit{Base: st.image, Layer: layer, Config: cfg, History: hist, CacheKey: key})
	if err != nil {
		return err
	}
	st.image, st.pending = img.ID, nil
	fmt.Fprintf(b.out, "--> %s\n", short(img.ID))
	return nil
}

// finishStage commits the config-only steps at the end of a stage.
func (b *builder) finishStage(ctx context.Context, st *state) error {
	if len(st.pending) == 0 {
		if st.image == "" {
			return fmt.Errorf("%w: the stage made no layer (FROM scratch needs a COPY or ADD)", image.ErrInvalidArgument)
		}
		return nil
	}
	key := cacheInput{Parent: st.image, Config: st.cfg, History: st.historyText(), Step: []string{"CONFIG"}}.key()
	if hit, err := b.cached(st, key); err != nil || hit {
		return err
	}
	return b.commit(ctx, st, nil, "", key)
}

// runStep runs a RUN in a container and commits its diff.
func (b *builder) runStep(ctx context.Context, st *state, sp step, c *instructions.RunCommand) error {
	if st.image == "" {
		return &InstructionError{File: b.o.File, Line: sp.line, Instruction: "RUN", Reason: "no base image to run in (FROM scratch has no shell): COPY a filesystem first"}
	}
	argv := b.cmdline(st, c.ShellDependantCmdLine)
	key := cacheInput{Parent: st.image, Config: st.cfg, Args: envOf(st.args), History: st.historyText(),
		Step: append([]string{"RUN"}, argv...)}.key()
	if hit, err := b.cached(st, key); err != nil || hit {
		return err
	}
	ctr, code, err := b.o.Runner.Run(ctx, RunRequest{Image: st.image, Argv: argv, Env: b.runEnv(st),
		User: st.cfg.User, Workdir: st.cfg.WorkingDir, Network: b.o.Network, Output: b.out})
	if err != nil {
		return fmt.Errorf("%s line %d: RUN: %w", b.o.File, sp.line, err)
	}
	defer func() {
		if err := ctr.Remove(context.WithoutCancel(ctx)); err != nil {
			fmt.Fprintf(b.out, "WARNING: remove build container %s: %v\n", short(ctr.StorageID()), err)
		}
	}()
	if code != 0 {
		return &RunError{File: b.o.File, Line: sp.line, Command: sp.original, ExitCode: code}
	}
	layer, layerID, err := snapshot.WriteLayer(ctx, snapshot.Options{Store: b.o.Store, ContainerID: ctr.StorageID(),
		BaseImage: st.image, Exclude: ctr.MountPoints()})
	if err != nil {
		return fmt.Errorf("%s line %d: RUN: commit: %w", b.o.File, sp.line, err)
	}
	if err := b.commit(ctx, st, layer, sp.original, key); err != nil {
		b.o.Store.DeleteLayer(layerID)
		return fmt.Errorf("%s line %d: RUN: commit: %w", b.o.File, sp.line, err)
	}
	snapshot.Committed(b.o.Store, ctr.StorageID(), layerID)
	return nil
}

// withMount runs fn with the stage's image mounted read-only ("" for scratch).
func (b *builder) withMount(id string, fn func(root string) error) error {
	if id == "" {
		return fn("")
	}
	root, unmount, err := b.o.Store.MountImage(id)
	if err != nil {
		return err
	}
	defer unmount()
	return fn(root)
}

// layerStep writes entries as a layer on st's image and commits it.
func (b *builder) layerStep(ctx context.Context, st *state, es []entry, text, key string) error {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeTar(pw, es)) }()
	layer, layerID, err := b.o.Store.PutLayer(st.image, pr)
	pr.CloseWithError(io.ErrClosedPipe)
	if err != nil {
		return err
	}
	if err := b.commit(ctx, st, layer, text, key); err != nil {
		b.o.Store.DeleteLayer(layerID)
		return err
	}
	b.o.Store.BuildCommitted(layerID)
	return nil
}

// workdir creates the working directory (owned by the USER in force) when
// the image lacks it: a small layer; else the step only changes the config.
func (b *builder) workdir(ctx context.Context, st *state, sp step) error {
	var es []entry
	err := b.withMount(st.image, func(root string) error {
		var missing []string
		for p := st.cfg.WorkingDir; p != "/"; p = path.Dir(p) {
			if _, exists, isDir, err := resolveIn(root, p); err != nil {
				return err
			} else if exists && !isDir {
				return notAFolder(p)
			} else if exists {
				break
			}
			missing = append([]string{p}, missing...)
		}
		if len(missing) == 0 {
			return nil
		}
		o, err := lookupOwner(root, st.cfg.User)
		if err != nil {
			o = owner{}
		}
		for _, p := range missing {
			name, _, _, err := resolveIn(root, p)
			if err != nil {
				return err
			}
			es = append(es, entry{name: name, typeflag: '5', mode: 0o755, uid: o.uid, gid: o.gid, mtime: time.Now()})
		}
		return nil
	})
	if err != nil {
		return &InstructionError{File: b.o.File, Line: sp.line, Instruction: "WORKDIR", Reason: err.Error()}
	}
	if len(es) == 0 {
		st.configStep(sp.original)
		return nil
	}
	var names []string
	for _, e := range es {
		names = append(names, fmt.Sprintf("%s %d:%d", e.name, e.uid, e.gid))
	}
	key := cacheInput{Parent: st.image, Config: st.cfg, History: st.historyText(), Step: append([]string{"WORKDIR"}, names...)}.key()
	if hit, err := b.cached(st, key); err != nil || hit {
		return err
	}
	if err := b.layerStep(ctx, st, es, sp.original, key); err != nil {
		return fmt.Errorf("%s line %d: WORKDIR: %w", b.o.File, sp.line, err)
	}
	return nil
}

// destPath resolves a COPY or ADD destination against the working folder
// (WORKDIR, "/" when unset), keeping a trailing "/" (or a "." destination)
// that says "into this folder".
func (st *state) destPath(dest string) string {
	if path.IsAbs(dest) {
		return dest
	}
	wd := st.cfg.WorkingDir
	if wd == "" {
		wd = "/"
	}
	trail := strings.HasSuffix(dest, "/") || dest == "." || strings.HasSuffix(dest, "/.")
	dest = path.Join(wd, dest)
	if trail {
		dest += "/"
	}
	return dest
}

// copyStep runs a COPY or ADD.
func (b *builder) copyStep(ctx context.Context, st *state, sp step, sd instructions.SourcesAndDest, from, chown, chmod string, add bool) error {
	fail := func(err error) error {
		return fmt.Errorf("%s line %d: %s: %w", b.o.File, sp.line, sp.keyword, err)
	}
	dest := st.destPath(sd.DestPath)
	spec := copySpec{sources: sd.SourcePaths, dest: dest, add: add}
	if chmod != "" {
		m, err := parseMode(chmod)
		if err != nil {
			return fail(err)
		}
		spec.chmod = &m
	}
	srcID := "" // the --from image
	var srcDesc string
	if from != "" {
		f, err := b.expander(st)(from)
		if err != nil {
			return fail(err)
		}
		from = f
		if idx, ok := b.d.stageIndex(from); ok {
			srcID = b.stageImage[idx]
		} else {
			id, _, err := b.resolveImage(ctx, from)
			if err != nil {
				return fail(err)
			}
			srcID = id
		}
		spec.fromImage = true
		srcDesc = "image " + srcID
	} else {
		if b.o.ContextDir == "" {
			return fail(fmt.Errorf("%w: no build context was given", image.ErrInvalidArgument))
		}
		spec.root, spec.ignore = b.o.ContextDir, b.ignore
		srcDesc = "context"
	}
	var es []entry
	collect := func() error {
		return b.withMount(st.image, func(destRoot string) error {
			spec.destRoot = destRoot
			if chown != "" {
				o, err := lookupOwner(destRoot, chown)
				if err != nil {
					return err
				}
				spec.chown = &o
			}
			var err error
			es, err = spec.collect()
			if err != nil {
				return err
			}
			digest, err := digestEntries(es)
			if err != nil {
				return err
			}
			key := cacheInput{Parent: st.image, Config: st.cfg, History: st.historyText(),
				Step: []string{sp.keyword, srcDesc, sp.original}, Content: digest}.key()
			if hit, err := b.cached(st, key); err != nil || hit {
				es = nil
				return err
			}
			return b.layerStep(ctx, st, es, sp.original, key)
		})
	}
	var err error
	if srcID != "" {
		err = b.withMount(srcID, func(root string) error {
			spec.root = root
			return collect()
		})
	} else {
		err = collect()
	}
	if err != nil {
		return fail(err)
	}
	return nil
}
