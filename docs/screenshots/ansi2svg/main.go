// Command ansi2svg renders a terminal frame captured with its colours
// (`tmux capture-pane -e -p`) as an SVG picture of a terminal window, cell
// by cell: foreground and background colours (16, 256 and true colour),
// bold, faint, underline and reverse video (the dashboard's selected row).
// docs/screenshots/render.sh turns the SVG into a PNG with rsvg-convert.
//
// freeze (github.com/charmbracelet/freeze) was tried first: its ANSI
// reader ignores reverse video, bold and the "default colour" codes tmux
// writes (39, 49), so the selected row vanished and colours ran on into
// the next cells.
//
//	go run ./docs/screenshots/ansi2svg -title "sessionmon demo" < frame.ansi > frame.svg
package main

import (
	"bufio"
	"flag"
	"fmt"
	"html"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/rivo/uniseg"
)

type style struct {
	fg, bg                     string // "" is the default
	bold, faint, under, invert bool
}

type cell struct {
	text  string // one grapheme cluster; "" continues a wide one
	style style
}

const (
	defaultFG = "#d0d0d0"
	defaultBG = "#171717"
)

func main() {
	fontSize := flag.Float64("font-size", 14, "font size in px")
	font := flag.String("font", "DejaVu Sans Mono", "monospace font family")
	title := flag.String("title", "", "window title")
	flag.Parse()
	in, err := io.ReadAll(bufio.NewReader(os.Stdin))
	if err != nil {
		fmt.Fprintln(os.Stderr, "ansi2svg:", err)
		os.Exit(1)
	}
	grid := parse(string(in))
	w := bufio.NewWriter(os.Stdout)
	render(w, grid, *fontSize, *font, *title)
	if err := w.Flush(); err != nil {
		fmt.Fprintln(os.Stderr, "ansi2svg:", err)
		os.Exit(1)
	}
}

// parse reads text with SGR sequences into rows of cells. Other escape
// sequences are skipped.
func parse(s string) [][]cell {
	s = strings.TrimRight(s, "\n")
	var grid [][]cell
	var st style
	for _, line := range strings.Split(s, "\n") {
		var row []cell
		for len(line) > 0 {
			if line[0] == 0x1b {
				n, params, final := escape(line)
				if final == 'm' {
					st = sgr(st, params)
				}
				line = line[n:]
				continue
			}
			cluster, rest, width, _ := uniseg.FirstGraphemeClusterInString(line, -1)
			line = rest
			if cluster == "\t" {
				cluster, width = " ", 1
			}
			if width == 0 {
				continue
			}
			row = append(row, cell{text: cluster, style: st})
			for range width - 1 {
				row = append(row, cell{style: st})
			}
		}
		grid = append(grid, row)
	}
	return grid
}

// escape measures the escape sequence at the start of s and returns its
// length, its CSI parameters and its final byte (0 for a non-CSI one).
func escape(s string) (n int, params []int, final byte) {
	if len(s) < 2 || s[1] != '[' {
		return min(2, len(s)), nil, 0
	}
	i := 2
	for i < len(s) && (s[i] < 0x40 || s[i] > 0x7e) {
		i++
	}
	if i >= len(s) {
		return len(s), nil, 0
	}
	for _, p := range strings.FieldsFunc(s[2:i], func(r rune) bool { return r == ';' || r == ':' }) {
		v, err := strconv.Atoi(p)
		if err != nil {
			v = 0
		}
		params = append(params, v)
	}
	return i + 1, params, s[i]
}

// sgr applies Select Graphic Rendition parameters.
func sgr(st style, p []int) style {
	if len(p) == 0 {
		return style{}
	}
	for i := 0; i < len(p); i++ {
		switch v := p[i]; {
		case v == 0:
			st = style{}
		case v == 1:
			st.bold = true
		case v == 2:
			st.faint = true
		case v == 22:
			st.bold, st.faint = false, false
		case v == 4:
			st.under = true
		case v == 24:
			st.under = false
		case v == 7:
			st.invert = true
		case v == 27:
			st.invert = false
		case v >= 30 && v <= 37:
			st.fg = palette16[v-30]
		case v >= 90 && v <= 97:
			st.fg = palette16[v-90+8]
		case v == 39:
			st.fg = ""
		case v >= 40 && v <= 47:
			st.bg = palette16[v-40]
		case v >= 100 && v <= 107:
			st.bg = palette16[v-100+8]
		case v == 49:
			st.bg = ""
		case v == 38 || v == 48:
			var c string
			switch {
			case i+2 < len(p) && p[i+1] == 5:
				c, i = color256(p[i+2]), i+2
			case i+4 < len(p) && p[i+1] == 2:
				c, i = fmt.Sprintf("#%02x%02x%02x", p[i+2]&255, p[i+3]&255, p[i+4]&255), i+4
			default:
				continue
			}
			if v == 38 {
				st.fg = c
			} else {
				st.bg = c
			}
		}
	}
	return st
}

// palette16 is xterm's default palette for the 16 basic colours.
var palette16 = [16]string{
	"#000000", "#cd0000", "#00cd00", "#cdcd00", "#0000ee", "#cd00cd", "#00cdcd", "#e5e5e5",
	"#7f7f7f", "#ff0000", "#00ff00", "#ffff00", "#5c5cff", "#ff00ff", "#00ffff", "#ffffff",
}

func color256(n int) string {
	switch {
	case n < 16:
		return palette16[max(0, n)]
	case n < 232:
		n -= 16
		level := func(v int) int {
			if v == 0 {
				return 0
			}
			return 55 + 40*v
		}
		return fmt.Sprintf("#%02x%02x%02x", level(n/36), level(n/6%6), level(n%6))
	case n < 256:
		g := 8 + 10*(n-232)
		return fmt.Sprintf("#%02x%02x%02x", g, g, g)
	}
	return defaultFG
}

// colours resolves a style to the fill of its text and of its cell.
func (st style) colours() (fg, bg string) {
	fg, bg = st.fg, st.bg
	if fg == "" {
		fg = defaultFG
	}
	if bg == "" {
		bg = defaultBG
	}
	if st.invert {
		fg, bg = bg, fg
	}
	if st.faint {
		fg = mix(fg, bg)
	}
	return fg, bg
}

// mix is the colour halfway between a and b (both #rrggbb).
func mix(a, b string) string {
	pa, pb := hex(a), hex(b)
	return fmt.Sprintf("#%02x%02x%02x", (pa[0]+pb[0])/2, (pa[1]+pb[1])/2, (pa[2]+pb[2])/2)
}

func hex(c string) [3]int {
	var out [3]int
	for i := range out {
		v, _ := strconv.ParseUint(c[1+2*i:3+2*i], 16, 8)
		out[i] = int(v)
	}
	return out
}

// render writes the grid as a window with a title bar. Every run of cells
// of one style is one <text> whose textLength pins it to its cells, so
// columns stay aligned whatever glyph the renderer falls back to.
func render(w io.Writer, grid [][]cell, size float64, font, title string) {
	cols := 0
	for _, row := range grid {
		cols = max(cols, len(row))
	}
	cw, lh := size*0.6021, size*1.3
	pad, bar := size*1.4, size*2.4
	width := 2*pad + float64(cols)*cw
	height := bar + pad + float64(len(grid))*lh
	fmt.Fprintf(w, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.2f %.2f">`+"\n",
		width, height, width, height)
	fmt.Fprintf(w, `<rect width="100%%" height="100%%" rx="10" fill="%s"/>`+"\n", defaultBG)
	for i, c := range []string{"#ff5f57", "#febc2e", "#28c840"} {
		fmt.Fprintf(w, `<circle cx="%.2f" cy="%.2f" r="%.2f" fill="%s"/>`+"\n", pad+float64(i)*size*1.3, bar/2, size*0.38, c)
	}
	if title != "" {
		fmt.Fprintf(w, `<text x="%.2f" y="%.2f" text-anchor="middle" font-family="%s" font-size="%.1f" fill="#8a8a8a">%s</text>`+"\n",
			width/2, bar/2+size*0.35, html.EscapeString(font), size*0.9, html.EscapeString(title))
	}
	fmt.Fprintf(w, `<g font-family="%s" font-size="%.1f" xml:space="preserve">`+"\n", html.EscapeString(font), size)
	for y, row := range grid {
		top := bar + float64(y)*lh
		base := top + lh*0.78
		for x := 0; x < len(row); {
			st := row[x].style
			end := x + 1
			for end < len(row) && row[end].style == st {
				end++
			}
			fg, bg := st.colours()
			x0, wd := pad+float64(x)*cw, float64(end-x)*cw
			if bg != defaultBG {
				fmt.Fprintf(w, `<rect x="%.2f" y="%.2f" width="%.2f" height="%.2f" fill="%s"/>`+"\n", x0, top, wd+0.3, lh+0.3, bg)
			}
			var text strings.Builder
			for _, c := range row[x:end] {
				text.WriteString(c.text)
			}
			if t := strings.TrimRight(text.String(), " "); t != "" {
				tw := float64(uniseg.StringWidth(t)) * cw
				attrs := ""
				if st.bold {
					attrs += ` font-weight="bold"`
				}
				if st.under {
					attrs += ` text-decoration="underline"`
				}
				fmt.Fprintf(w, `<text x="%.2f" y="%.2f" fill="%s" textLength="%.2f" lengthAdjust="spacingAndGlyphs"%s>%s</text>`+"\n",
					x0, base, fg, tw, attrs, html.EscapeString(t))
			}
			x = end
		}
	}
	fmt.Fprintln(w, "</g>\n</svg>")
}
