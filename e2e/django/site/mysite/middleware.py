from django.utils import timezone


class LastActivityMiddleware:
    """Records the time of every request of a logged-in session in
    last_activity (SESSION_SAVE_EVERY_REQUEST then saves it)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if "user" in request.session:
            request.session["last_activity"] = timezone.now().isoformat()
        return self.get_response(request)
