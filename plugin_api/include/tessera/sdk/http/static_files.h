// StaticFiles: files served from memory (a web UI's HTML, scripts and styles), with their
// content type and an ETag so that a browser's revalidation costs a 304 and no body.
//
// Files are added at start-up (from strings compiled in, or read once from a directory); the
// server never touches the file system while serving. Paths are looked up exactly, so ".." or
// an encoded slash can name nothing that was not added.
//
// Threading: a value type; fill it before serving and use it on the server's loop thread.
#pragma once

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <utility>

#include "tessera/result.h"
#include "tessera/sdk/http/message.h"
#include "tessera/sdk/logger.h"

namespace tessera::sdk::http {

class StaticFiles {
 public:
  // Adds (or replaces) the file served at `path` ("/index.html" and "index.html" are the same).
  // Without a content type, one is chosen from the extension.
  void add(std::string_view path, std::string content, std::string_view content_type = {}) {
    File file;
    file.content_type = std::string(content_type.empty() ? content_type_for(path) : content_type);
    file.etag = etag_of(content);
    file.content = std::move(content);
    files_[normalize(path)] = std::move(file);
  }

  // Reads every regular file below `directory` into memory, served under `prefix`.
  Status add_directory(const std::filesystem::path& directory, std::string_view prefix = "/") {
    std::error_code ec;
    std::filesystem::recursive_directory_iterator it(directory, ec), end;
    if (ec) return make_error("cannot read '" + directory.string() + "': " + ec.message());
    for (; it != end; it.increment(ec)) {
      if (ec) return make_error("cannot read '" + directory.string() + "': " + ec.message());
      if (!it->is_regular_file()) continue;
      std::ifstream in(it->path(), std::ios::binary);
      std::ostringstream content;
      content << in.rdbuf();
      if (!in) return make_error("cannot read '" + it->path().string() + "'");
      std::string relative = std::filesystem::relative(it->path(), directory).generic_string();
      add(std::string(prefix) + "/" + relative, content.str());
    }
    return {};
  }

  bool contains(std::string_view path) const { return find(path) != nullptr; }
  size_t size() const { return files_.size(); }

  // Answers a GET or HEAD for `path`; an empty path or one ending in '/' means its index.html.
  // 200 with the file, 304 when If-None-Match names its ETag, 404 when there is no such file.
  Response serve(const Request& request, std::string_view path) const {
    const File* file = find(path);
    if (file == nullptr) return json_error(404, "no file at " + quote(path));
    if (matches(request.header("If-None-Match"), file->etag)) {
      Response not_modified(304);
      not_modified.set_header("ETag", file->etag);
      not_modified.set_header("Cache-Control", "no-cache");
      return not_modified;
    }
    Response response(200, file->content, file->content_type);
    response.set_header("ETag", file->etag);
    // Cached, but revalidated each time: a new build of the UI shows at the next reload.
    response.set_header("Cache-Control", "no-cache");
    return response;
  }

  static std::string_view content_type_for(std::string_view path) {
    size_t dot = path.rfind('.');
    std::string_view ext =
        dot == std::string_view::npos ? std::string_view() : path.substr(dot + 1);
    static constexpr std::pair<std::string_view, std::string_view> kTypes[] = {
        {"html", "text/html; charset=utf-8"},
        {"htm", "text/html; charset=utf-8"},
        {"css", "text/css; charset=utf-8"},
        {"js", "text/javascript; charset=utf-8"},
        {"mjs", "text/javascript; charset=utf-8"},
        {"json", "application/json"},
        {"map", "application/json"},
        {"txt", "text/plain; charset=utf-8"},
        {"svg", "image/svg+xml"},
        {"png", "image/png"},
        {"jpg", "image/jpeg"},
        {"jpeg", "image/jpeg"},
        {"gif", "image/gif"},
        {"ico", "image/x-icon"},
        {"webp", "image/webp"},
        {"woff", "font/woff"},
        {"woff2", "font/woff2"},
        {"wasm", "application/wasm"},
        {"xml", "application/xml"},
    };
    for (const auto& [known, type] : kTypes) {
      if (detail::iequals(ext, known)) return type;
    }
    return "application/octet-stream";
  }

 private:
  struct File {
    std::string content;
    std::string content_type;
    std::string etag;
  };

  static std::string normalize(std::string_view path) {
    while (!path.empty() && path.front() == '/') path.remove_prefix(1);
    std::string key(path);
    if (key.empty() || key.back() == '/') key += "index.html";
    return key;
  }

  const File* find(std::string_view path) const {
    auto it = files_.find(normalize(path));
    return it == files_.end() ? nullptr : &it->second;
  }

  // A strong validator from the content (64-bit FNV-1a and the length).
  static std::string etag_of(std::string_view content) {
    uint64_t hash = 14695981039346656037ull;
    for (unsigned char c : content) {
      hash ^= c;
      hash *= 1099511628211ull;
    }
    char text[48];
    std::snprintf(text, sizeof text, "\"%016llx-%zx\"", static_cast<unsigned long long>(hash),
                  content.size());
    return text;
  }

  // If-None-Match: "*" or a comma-separated list of tags, weak ones (W/"...") compared weakly.
  static bool matches(std::string_view header, std::string_view etag) {
    while (!header.empty()) {
      size_t comma = header.find(',');
      std::string_view tag = header.substr(0, comma);
      header = comma == std::string_view::npos ? std::string_view() : header.substr(comma + 1);
      while (!tag.empty() && (tag.front() == ' ' || tag.front() == '\t')) tag.remove_prefix(1);
      while (!tag.empty() && (tag.back() == ' ' || tag.back() == '\t')) tag.remove_suffix(1);
      if (tag.substr(0, 2) == "W/") tag.remove_prefix(2);
      if (tag == "*" || tag == etag) return true;
    }
    return false;
  }

  std::unordered_map<std::string, File> files_;
};

}  // namespace tessera::sdk::http
