/* The CGI floor: the least a CGI program can do to answer a request. */
#include <stdio.h>

int main(void)
{
	fputs("Status: 200 OK\r\nContent-Type: application/json\r\n\r\n{\"status\":\"ok\"}\n", stdout);
	return 0;
}
