@echo off
rem Command-line front end for Windows: scripts\ssr.cmd generate --models DIR ... (see README.md).
rem Runs the packaged jar with target\lib\ on the class path, building it first when it is missing.
rem JAVA_OPTS adds JVM options (e.g. set JAVA_OPTS=-Xmx24g). The exit code is java's.
setlocal
for %%d in ("%~dp0..") do set "PROJECT_DIR=%%~fd"

call :find_jar
if not defined JAR goto build
if not exist "%PROJECT_DIR%\target\lib\" goto build
goto run

:build
>&2 echo ssr: building the jar (mvn -q -DskipTests package) ...
pushd "%PROJECT_DIR%"
call mvn -B -q -DskipTests package 1>&2
set "MVN_RC=%ERRORLEVEL%"
popd
if not "%MVN_RC%"=="0" exit /b %MVN_RC%
call :find_jar
if not defined JAR (
  >&2 echo ssr: the build made no target\ssr-encoder-fiji-*.jar
  exit /b 1
)

:run
java %JAVA_OPTS% -Dai.djl.offline=true -DOPT_OUT_TRACKING=true -cp "%JAR%;%PROJECT_DIR%\target\lib\*" io.github.ssrencoder.cli.SsrCli %*
exit /b %ERRORLEVEL%

rem Sets JAR to the first target\ssr-encoder-fiji-*.jar that is not a -sources, -javadoc or -tests jar.
:find_jar
set "JAR="
if not exist "%PROJECT_DIR%\target\" goto :eof
pushd "%PROJECT_DIR%\target"
for %%f in (ssr-encoder-fiji-*.jar) do call :consider "%%~ff"
popd
goto :eof

:consider
if defined JAR goto :eof
set "NAME=%~n1"
if /i "%NAME:~-8%"=="-sources" goto :eof
if /i "%NAME:~-8%"=="-javadoc" goto :eof
if /i "%NAME:~-6%"=="-tests" goto :eof
set "JAR=%~1"
goto :eof
