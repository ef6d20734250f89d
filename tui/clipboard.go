package tui

import (
	"encoding/base64"
	"fmt"
	"io"
	"strings"

	tea "github.com/charmbracelet/bubbletea"
)

// clipboard copies text to the operator's clipboard with OSC 52: the
// terminal (xterm, kitty, iTerm2, WezTerm, Windows Terminal, foot, …) sets
// its clipboard from an escape sequence, so it works over ssh, where no
// local clipboard tool could reach the operator's machine. Inside tmux the
// sequence is wrapped for passthrough (tmux 3.3+ needs `set -g
// allow-passthrough on`; with `set -g set-clipboard on` tmux also takes the
// plain sequence itself); inside GNU screen it is wrapped in a DCS string.
type clipboard struct {
	out  io.Writer // the terminal (os.Stdout)
	tmux bool      // $TMUX is set
	// screen: $TERM starts with "screen" outside tmux.
	screen bool
}

// maxClip bounds what is copied: terminals refuse (or truncate) long OSC 52
// payloads; an error message and a session id are far below it.
const maxClip = 64 << 10

// copiedMsg reports a copy.
type copiedMsg struct {
	what string // "session id", "username", "error"
	text string
	err  error
}

// osc52 returns the escape sequence that sets the clipboard to text.
func (c clipboard) osc52(text string) string {
	seq := "\x1b]52;c;" + base64.StdEncoding.EncodeToString([]byte(text)) + "\x07"
	switch {
	case c.tmux:
		// DCS passthrough: every ESC inside is doubled.
		return "\x1bPtmux;" + strings.ReplaceAll(seq, "\x1b", "\x1b\x1b") + "\x1b\\"
	case c.screen:
		return "\x1bP" + seq + "\x1b\\"
	}
	return seq
}

// Copy returns the command that writes the sequence for text, in one
// write, and reports what it copied.
func (c clipboard) Copy(what, text string) tea.Cmd {
	return func() tea.Msg {
		if c.out == nil {
			return copiedMsg{what: what, text: text, err: fmt.Errorf("copy %s: no terminal to write to", what)}
		}
		if len(text) > maxClip {
			return copiedMsg{what: what, text: text, err: fmt.Errorf("copy %s: %d bytes is more than a terminal takes (%d)", what, len(text), maxClip)}
		}
		if _, err := io.WriteString(c.out, c.osc52(text)); err != nil {
			return copiedMsg{what: what, text: text, err: fmt.Errorf("copy %s: %w", what, err)}
		}
		return copiedMsg{what: what, text: text}
	}
}
