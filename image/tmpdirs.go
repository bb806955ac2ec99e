package image

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// procTempPrefix names the per-process folders under the store's tmp.
const procTempPrefix = "proc-"

// processStart returns the start time of process pid (field 22 of
// /proc/<pid>/stat, in clock ticks since boot), "" when there is no such
// process. With the pid it names one process across PID reuse.
func processStart(pid int) string {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return ""
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return ""
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return ""
	}
	return f[19]
}

// processTempDir returns this process's own temporary folder under tmpDir,
// tmpDir/proc-<pid>-<start time>, made if missing, where containers/image
// stages blobs and imports unpack archives. A process killed in the middle
// of a pull or an import (kill -9) leaves its folder behind — often the size
// of the image; this removes every such folder of a process that no longer
// runs. Folders of live processes are never touched.
func processTempDir(tmpDir string) (string, error) {
	ents, err := os.ReadDir(tmpDir)
	if err != nil {
		return "", err
	}
	for _, e := range ents {
		rest, ok := strings.CutPrefix(e.Name(), procTempPrefix)
		if !ok || !e.IsDir() {
			continue
		}
		pidStr, start, ok := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidStr)
		if !ok || err != nil {
			continue
		}
		if processStart(pid) != start {
			os.RemoveAll(filepath.Join(tmpDir, e.Name()))
		}
	}
	pid := os.Getpid()
	dir := filepath.Join(tmpDir, fmt.Sprintf("%s%d-%s", procTempPrefix, pid, processStart(pid)))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	return dir, nil
}
