// Result<T>: a value or an Error, without exceptions.
#pragma once

#include <optional>
#include <utility>
#include <variant>

#include "proxy/core/error.h"

namespace proxy {

template <class T> class [[nodiscard]] Result {
public:
  Result(T value) : v_(std::move(value)) {}     // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {} // NOLINT: implicit by design

  bool ok() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  const Error& error() const& { return std::get<1>(v_); }

private:
  std::variant<T, Error> v_;
};

} // namespace proxy
