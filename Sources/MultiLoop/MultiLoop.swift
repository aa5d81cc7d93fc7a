// The module users import. The loop's public API (EventLoop, Handle, TimerHandle, its errors and
// statistics) is declared one layer down, in `_MultiLoopEventLoop`, and re-exported here, so that
// `import MultiLoop` is all a user writes. The lower modules' other declarations are `package`:
// visible to the layers above, never to users.
@_exported import _MultiLoopEventLoop
