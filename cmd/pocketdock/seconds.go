package main

import (
	"fmt"
	"math"
	"time"

	"github.com/pocketdock/pocketdock"
)

// maxSeconds is the largest --timeout a time.Duration holds (about 292 years).
const maxSeconds = float64(math.MaxInt64) / float64(time.Second)

// checkSeconds validates a --timeout value in seconds: a finite number;
// NaN and ±Inf are ErrInvalidArgument naming the flag. Values beyond what a
// duration holds mean no limit, like 0 and negative ones (secondsFlag).
func checkSeconds(flag string, s float64) error {
	if math.IsNaN(s) || math.IsInf(s, 0) {
		return fmt.Errorf("%w: --%s %v: want a number of seconds (0 = no limit)", pocketdock.ErrInvalidArgument, flag, s)
	}
	return nil
}
