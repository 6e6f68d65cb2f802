from django.contrib import admin

from project.chat.models import ChatMessage


@admin.register(ChatMessage)
class ChatMessageAdmin(admin.ModelAdmin):
    list_display = ("created_at", "room", "author", "preview")
    list_select_related = ("author",)
    search_fields = ("room", "text", "author__username")
    date_hierarchy = "created_at"
    raw_id_fields = ("author",)
    ordering = ("-created_at", "-id")

    @admin.display(description="text")
    def preview(self, message: ChatMessage) -> str:
        return message.text if len(message.text) <= 80 else message.text[:79] + "…"
