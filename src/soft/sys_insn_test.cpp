#include "soft/test_env.hpp"
