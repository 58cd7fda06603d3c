"""Pictures and media from arrays: frames, GIF, MP4, contact sheets."""
