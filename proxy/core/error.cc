#include "proxy/core/error.h"

namespace proxy {

int statusFor(ErrorKind kind) noexcept {
  switch (kind) {
  case ErrorKind::kBadRequest: return 400;
  case ErrorKind::kNoRoute: return 404;
  case ErrorKind::kPayloadTooLarge: return 413;
  case ErrorKind::kUriTooLong: return 414;
  case ErrorKind::kHeadersTooLarge: return 431;
  case ErrorKind::kBadGateway: return 502;
  case ErrorKind::kUnavailable: return 503;
  case ErrorKind::kGatewayTimeout: return 504;
  case ErrorKind::kInternal: return 500;
  }
  return 500;
}

std::string_view reasonPhrase(int status) noexcept {
  switch (status) {
  case 100: return "Continue";
  case 101: return "Switching Protocols";
  case 200: return "OK";
  case 204: return "No Content";
  case 301: return "Moved Permanently";
  case 302: return "Found";
  case 304: return "Not Modified";
  case 308: return "Permanent Redirect";
  case 400: return "Bad Request";
  case 403: return "Forbidden";
  case 404: return "Not Found";
  case 405: return "Method Not Allowed";
  case 408: return "Request Timeout";
  case 413: return "Content Too Large";
  case 414: return "URI Too Long";
  case 417: return "Expectation Failed";
  case 421: return "Misdirected Request";
  case 431: return "Request Header Fields Too Large";
  case 500: return "Internal Server Error";
  case 501: return "Not Implemented";
  case 502: return "Bad Gateway";
  case 503: return "Service Unavailable";
  case 504: return "Gateway Timeout";
  case 505: return "HTTP Version Not Supported";
  default: return "Unknown";
  }
}

} // namespace proxy
