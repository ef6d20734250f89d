"""Write users and sessions through Django's own SessionStore, for
sessionmon's tests (the conformance Seeder and e2e/django).

Reads JSON on stdin:

    {"users": [{"username", "password", "email", "full_name", "role", "status"}],
     "sessions": [{"username", "email", "full_name", "role", "status", "ip", "user_agent",
                   "login_time", "last_activity", "expires_at", "plain": false}]}

Users are created (or updated) as needed: role "admin" makes a superuser,
"staff" staff, any other role also a group of that name; status "inactive"
clears is_active. Each session is written by SessionStore.create() with the
site's keys (or, with "plain", only Django's own _auth_user_* keys, as a
plain Django site has), rewritten in the pre-3.1 format with "format":
"legacy", then its expire_date set to expires_at. Prints the
new session keys, in order, as a JSON list.
"""
import json
import sys
from datetime import datetime

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand
from django.utils.module_loading import import_string

from mysite import session_keys


def parse(t):
    return datetime.fromisoformat(t.replace("Z", "+00:00")) if t else None


def ensure_user(spec):
    user, _ = User.objects.get_or_create(username=spec["username"])
    full = spec.get("full_name", "").split(" ", 1)
    user.first_name = full[0] if full else ""
    user.last_name = full[1] if len(full) > 1 else ""
    user.email = spec.get("email", "")
    role = spec.get("role", "user")
    user.is_superuser = role == "admin"
    user.is_staff = role in ("admin", "staff")
    user.is_active = spec.get("status", "active") != "inactive"
    if spec.get("password"):
        user.set_password(spec["password"])
    user.save()
    user.groups.clear()
    if role not in ("admin", "staff", "user"):
        user.groups.add(Group.objects.get_or_create(name=role)[0])
    return user


class Command(BaseCommand):
    help = "Write users and sessions through Django's SessionStore (tests only)."

    def handle(self, *args, **options):
        req = json.load(sys.stdin)
        for u in req.get("users") or []:
            ensure_user(u)
        store_class = import_string(settings.SESSION_ENGINE + ".SessionStore")
        model = store_class.get_model_class()
        keys = []
        for s in req.get("sessions") or []:
            user = ensure_user(s)
            session = store_class()
            session[SESSION_KEY] = str(user.pk)
            session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
            session[HASH_SESSION_KEY] = user.get_session_auth_hash()
            if not s.get("plain"):
                session_keys.store(session, user, ip=s.get("ip", ""), user_agent=s.get("user_agent", ""),
                                   login_time=parse(s.get("login_time")), last_activity=parse(s.get("last_activity")))
            session.create()
            session.save()
            if s.get("format") == "legacy":
                # The pre-3.1 format, which Django 3.1-3.2 still read.
                model.objects.filter(session_key=session.session_key).update(
                    session_data=session._legacy_encode(dict(session.items())))
            if s.get("expires_at"):
                model.objects.filter(session_key=session.session_key).update(expire_date=parse(s["expires_at"]))
            keys.append(session.session_key)
        json.dump(keys, sys.stdout)
