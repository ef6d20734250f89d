package django

import "encoding/base64"

func base64URL(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
func b64std(s string) string    { return base64.StdEncoding.EncodeToString([]byte(s)) }
