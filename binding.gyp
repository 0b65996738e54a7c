{
  "targets": [
    {
      "target_name": "posix",
      "sources": [
        "native/addon.cc",
        "native/helpers.cc",
        "native/process.cc",
        "native/signals.cc",
        "native/fd.cc",
        "native/socket.cc",
        "native/unix.cc"
      ],
      "dependencies": ["<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "defines": ["_GNU_SOURCE"],
      "ldflags": ["-Wl,-z,now", "-Wl,-z,relro"],
      "conditions": [["OS!='linux'", {"type": "none"}]]
    },
    {
      "target_name": "mmap_without_hints",
      "type": "shared_library",
      "sources": ["native/mmap-without-hints.c"],
      "cflags": ["-Wall", "-Wextra"],
      "conditions": [["OS!='linux'", {"type": "none"}]]
    }
  ]
}
