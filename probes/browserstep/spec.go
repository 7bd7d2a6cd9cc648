package browserstep

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/authprobe/authprobe/config"
)

// Spec is the browser step's settings.
type Spec struct {
	Actions       []Action        `yaml:"actions,required" doc:"What the user does, in order: navigate, fill, click, press, select, submit, wait_visible, wait_url, wait_text, assert_text, assert_url, assert_title, extract."`
	Mask          []string        `yaml:"mask" doc:"CSS selectors of elements to black out in failure screenshots, besides password inputs (always masked)."`
	ActionTimeout config.Duration `yaml:"action_timeout" doc:"How long one action may wait for its element, URL or text before failing (element_not_found, assertion). Default 10s; the run's timeout still applies."`
}

// DefaultActionTimeout bounds each action's wait.
const DefaultActionTimeout = config.Duration(10 * time.Second)

// Action is one thing the user does. Exactly one field is set.
type Action struct {
	Navigate    *config.Template  `yaml:"navigate" doc:"Open a URL and wait for it to load; fails with navigation if it cannot, or answers 4xx/5xx."`
	Fill        *Field            `yaml:"fill" doc:"Type a value into an input (it is cleared first); values may be secrets."`
	Click       string            `yaml:"click" doc:"Click the element matching a CSS selector, once visible."`
	Press       *Press            `yaml:"press" doc:"Press a key (Enter, Tab, Escape, Backspace, ArrowDown, ArrowUp, Space) in an element."`
	Select      *Field            `yaml:"select" doc:"Choose an option of a select element by its value."`
	Submit      string            `yaml:"submit" doc:"Submit the form matching (or containing) a CSS selector."`
	WaitVisible string            `yaml:"wait_visible" doc:"Wait until an element is visible (element_not_found if it never is)."`
	WaitURL     *Match            `yaml:"wait_url" doc:"Wait until the page's URL matches (assertion if it never does)."`
	WaitText    *TextMatch        `yaml:"wait_text" doc:"Wait until an element's text contains a value."`
	AssertText  *TextMatch        `yaml:"assert_text" doc:"An element's text must contain a value now."`
	AssertURL   *Match            `yaml:"assert_url" doc:"The page's URL must match now."`
	AssertTitle *Match            `yaml:"assert_title" doc:"The page's title must match now."`
	Extract     map[string]Source `yaml:"extract" doc:"Variables for later steps, from cookies, storage, the URL or elements."`
}

// Field is a form control and the value to put in it.
type Field struct {
	Selector string          `yaml:"selector,required" doc:"CSS selector of the control."`
	Value    config.Template `yaml:"value,required" doc:"The value; may use variables and ${env:...}."`
}

// Press is a key pressed in an element.
type Press struct {
	Selector string `yaml:"selector,required" doc:"CSS selector of the element to focus."`
	Key      string `yaml:"key,required" doc:"Enter, Tab, Escape, Backspace, ArrowDown, ArrowUp or Space."`
}

// Match is how a URL or a title must look. Exactly one field is set.
type Match struct {
	Contains string         `yaml:"contains" doc:"It contains this text."`
	Equals   string         `yaml:"equals" doc:"It is exactly this."`
	Matches  *config.Regexp `yaml:"matches" doc:"It matches this regular expression."`
}

// TextMatch is an element whose text must contain a value.
type TextMatch struct {
	Selector string `yaml:"selector,required" doc:"CSS selector of the element."`
	Contains string `yaml:"contains,required" doc:"Text it must contain."`
}

// Source says where an extracted variable comes from. Exactly one of
// cookie, local_storage, session_storage, url_param and selector is set.
type Source struct {
	Cookie         string `yaml:"cookie" doc:"A cookie of the current page."`
	LocalStorage   string `yaml:"local_storage" doc:"A localStorage key."`
	SessionStorage string `yaml:"session_storage" doc:"A sessionStorage key."`
	URLParam       string `yaml:"url_param" doc:"A query parameter of the current URL (an authorization code, say)."`
	Selector       string `yaml:"selector" doc:"An element: its text, or attr."`
	Attr           string `yaml:"attr" doc:"With selector: this attribute instead of the text."`
	Secret         bool   `yaml:"secret" doc:"The value is a secret (a token, a session): never shown."`
}

var keys = map[string]string{"Enter": "\r", "Tab": "\t", "Escape": "\u001b", "Backspace": "\b",
	"ArrowDown": "\u0301", "ArrowUp": "\u0300", "Space": " "}

var varName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}$`)

// Check validates the settings.
func (s *Spec) Check(c *config.Check) {
	if c.Has("actions") && len(s.Actions) == 0 {
		c.Errorf("actions", "is empty; a browser step needs at least one action")
	}
	if s.ActionTimeout == 0 {
		s.ActionTimeout = DefaultActionTimeout
	}
}

// Check requires exactly one action.
func (a *Action) Check(c *config.Check) {
	if names := a.set(); len(names) != 1 {
		if len(names) == 0 {
			c.Errorf("", "names no action; give one of navigate, fill, click, press, select, submit, wait_visible, wait_url, wait_text, assert_text, assert_url, assert_title, extract")
		} else {
			c.Errorf("", "names several actions (%s); give one per list item", strings.Join(names, ", "))
		}
	}
	if a.Press != nil && keys[a.Press.Key] == "" {
		c.Errorf("press.key", "%q is not a key authprobe can press; use Enter, Tab, Escape, Backspace, ArrowDown, ArrowUp or Space", a.Press.Key)
	}
	for name, src := range a.Extract {
		if !varName.MatchString(name) {
			c.Errorf("extract."+name, "%q is not a valid variable name", name)
		}
		n := 0
		for _, v := range []string{src.Cookie, src.LocalStorage, src.SessionStorage, src.URLParam, src.Selector} {
			if v != "" {
				n++
			}
		}
		if n != 1 {
			c.Errorf("extract."+name, "needs exactly one of cookie, local_storage, session_storage, url_param, selector")
		}
		if src.Attr != "" && src.Selector == "" {
			c.Errorf("extract."+name+".attr", "only applies to selector")
		}
	}
}

// Check requires exactly one way to match.
func (m *Match) Check(c *config.Check) {
	n := 0
	for _, set := range []bool{m.Contains != "", m.Equals != "", m.Matches != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		c.Errorf("", "needs exactly one of contains, equals, matches")
	}
}

func (m *Match) ok(s string) bool {
	switch {
	case m.Contains != "":
		return strings.Contains(s, m.Contains)
	case m.Equals != "":
		return s == m.Equals
	}
	return m.Matches.MatchString(s)
}

func (m *Match) String() string {
	switch {
	case m.Contains != "":
		return fmt.Sprintf("contain %q", m.Contains)
	case m.Equals != "":
		return fmt.Sprintf("be %q", m.Equals)
	}
	return fmt.Sprintf("match %q", m.Matches.String())
}

// set lists the actions given, by key.
func (a *Action) set() []string {
	var names []string
	for _, f := range []struct {
		name string
		set  bool
	}{
		{"navigate", a.Navigate != nil}, {"fill", a.Fill != nil}, {"click", a.Click != ""}, {"press", a.Press != nil},
		{"select", a.Select != nil}, {"submit", a.Submit != ""}, {"wait_visible", a.WaitVisible != ""},
		{"wait_url", a.WaitURL != nil}, {"wait_text", a.WaitText != nil}, {"assert_text", a.AssertText != nil},
		{"assert_url", a.AssertURL != nil}, {"assert_title", a.AssertTitle != nil}, {"extract", a.Extract != nil},
	} {
		if f.set {
			names = append(names, f.name)
		}
	}
	return names
}

// Label names an action in timings and metrics: its position and kind,
// "3:click", stable as long as the config is.
func (a *Action) Label(i int) string {
	names := a.set()
	if len(names) == 0 {
		return fmt.Sprintf("%d", i+1)
	}
	return fmt.Sprintf("%d:%s", i+1, names[0])
}
