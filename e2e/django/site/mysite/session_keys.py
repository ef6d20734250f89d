"""The keys the site's login view stores in the session (DESIGN.md)."""
from django.utils import timezone


def role_of(user):
    group = user.groups.order_by("name").first()
    if group is not None:
        return group.name
    if user.is_superuser:
        return "admin"
    if user.is_staff:
        return "staff"
    return "user"


def store(session, user, ip="", user_agent="", login_time=None, last_activity=None):
    now = timezone.now()
    session["user"] = user.username
    session["user_id"] = user.pk
    session["user_email"] = user.email
    session["user_name"] = user.get_full_name()
    session["user_role"] = role_of(user)
    session["user_status"] = "active" if user.is_active else "inactive"
    session["login_time"] = (login_time or now).isoformat()
    session["last_activity"] = (last_activity or now).isoformat()
    session["ip"] = ip
    session["user_agent"] = user_agent
