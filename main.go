// Command sessionmon watches and controls web login sessions live: a
// terminal dashboard (watch, demo) and the companion HTTP login server
// (serve), on one session-logic package and one store.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCmd().ExecuteContext(ctx)
	stop()
	if err != nil {
		var ue usageError
		fmt.Fprintln(os.Stderr, "sessionmon:", err)
		if errors.As(err, &ue) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}
