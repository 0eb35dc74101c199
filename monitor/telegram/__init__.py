"""Telegram channels through Telethon: channel sources, message mapping, edits and
deletions, and the long-running listener with gap-free catch-up."""
