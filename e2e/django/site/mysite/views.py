from functools import wraps
from urllib.parse import quote

from django.contrib.auth import authenticate, login, logout
from django.http import HttpResponse, HttpResponseRedirect, JsonResponse
from django.views.decorators.http import require_http_methods

from . import session_keys


def page_guard(view):
    """A page needs a session: without one, redirect to the login page."""
    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if "user" not in request.session or not request.user.is_authenticated:
            return HttpResponseRedirect("/login/?next=" + quote(request.get_full_path()))
        return view(request, *args, **kwargs)
    return wrapped


def ajax_guard(view):
    """An AJAX endpoint needs a session: without one, 401 JSON."""
    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if "user" not in request.session or not request.user.is_authenticated:
            return JsonResponse({"error": "not logged in"}, status=401)
        return view(request, *args, **kwargs)
    return wrapped


@require_http_methods(["GET", "POST"])
def login_view(request):
    if request.method == "GET":
        return HttpResponse('<form method="post"><input name="username"><input name="password" type="password"></form>')
    user = authenticate(request, username=request.POST.get("username", ""), password=request.POST.get("password", ""))
    if user is None:
        return HttpResponse("bad credentials", status=403)
    login(request, user)  # cycles the session key: no fixation
    session_keys.store(request.session, user, ip=request.META.get("REMOTE_ADDR", ""),
                       user_agent=request.META.get("HTTP_USER_AGENT", ""))
    return HttpResponseRedirect(request.GET.get("next", "/"))


def logout_view(request):
    logout(request)  # flush(): deletes the row
    return HttpResponseRedirect("/login/")


@page_guard
def home(request):
    return HttpResponse("hello " + request.session["user"])


@ajax_guard
def me(request):
    s = request.session
    return JsonResponse({"user": s["user"], "role": s["user_role"], "last_activity": s["last_activity"],
                         "expiry_age": s.get_expiry_age()})
