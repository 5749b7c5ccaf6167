#include <scgi.h>
int main(void) { return 0; }
