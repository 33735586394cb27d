#include "ml/html.hpp"

#include <cstdio>

namespace stagegate::ml::html {

std::string Escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    switch (c) {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string Number(double value) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.4g", value);
  return buffer;
}

std::string PageStart(std::string_view title, std::string_view css) {
  return "<!doctype html><html><head><meta charset=\"utf-8\"><title>" + Escape(title) +
         "</title><style>" + std::string(css) + "</style></head><body>";
}

}  // namespace stagegate::ml::html
