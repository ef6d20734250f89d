"""Encode and decode session_data with the real Django, for data/django's tests.

    /usr/bin/python3 djangosign.py gen      < {"secret": ..., "cases": [{"name":..., "dict":..., "kind":...}]}
    /usr/bin/python3 djangosign.py verify   < {"secret": ..., "rows": ["session_data", ...]}

gen prints {"name": session_data}; kind is "signed" (SessionStore.encode),
"signed-sha1" (the same signed with the legacy SHA-1 Signer), "legacy"
(SessionStore._legacy_encode, the pre-3.1 format) or "pickle".
verify prints, per row, the dict Django's signing.loads (or, failing that,
the legacy decoder) returns, or {"error": ...}.
"""
import json
import sys

import django
from django.conf import settings

req = json.load(sys.stdin)
settings.configure(
    SECRET_KEY=req["secret"],
    INSTALLED_APPS=["django.contrib.sessions"],
    SESSION_SERIALIZER="django.contrib.sessions.serializers.JSONSerializer",
)
django.setup()

from django.contrib.sessions.backends.db import SessionStore  # noqa: E402
from django.contrib.sessions.serializers import PickleSerializer  # noqa: E402
from django.core import signing  # noqa: E402

store = SessionStore()

if sys.argv[1] == "gen":
    out = {}
    for c in req["cases"]:
        d, kind = c["dict"], c["kind"]
        if kind == "signed":
            out[c["name"]] = store.encode(d)
        elif kind == "signed-sha1":
            out[c["name"]] = signing.TimestampSigner(salt=store.key_salt, algorithm="sha1").sign_object(
                d, serializer=signing.JSONSerializer, compress=True)
        elif kind == "legacy":
            out[c["name"]] = store._legacy_encode(d)
        elif kind == "pickle":
            out[c["name"]] = signing.dumps(d, salt=store.key_salt, serializer=PickleSerializer, compress=True)
        else:
            raise SystemExit("unknown kind " + kind)
    json.dump(out, sys.stdout)
elif sys.argv[1] == "verify":
    out = []
    for row in req["rows"]:
        try:
            out.append(signing.loads(row, salt=store.key_salt, serializer=signing.JSONSerializer))
        except signing.BadSignature as e:
            d = store._legacy_decode(row) if ":" not in row else {}
            out.append(d if d else {"error": str(e)})
    json.dump(out, sys.stdout)
else:
    raise SystemExit("usage: djangosign.py gen|verify < request.json")
