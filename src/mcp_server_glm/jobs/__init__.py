"""How an async job (a video, a slow image) goes: submitted once (`submit`), waited for within a budget
(`wait`), then recorded, downloaded and reported (`settle`); `outcome` is what a tool reports of it.
"""
